// Sample code for duende mutate's end-to-end test. The tests in ../tests are weak on purpose
// where a comment says WEAK; every other mutant must be killed.
#include "calc.h"

#define SQUARE(x) ((x) * (x))  // no mutants inside macros

namespace calc {

int g_events = 0;

// WEAK: nobody checks the event counter: emptying the body or '+' -> '-' survives.
void Note() { g_events = g_events + 1; }

int Add(int a, int b) { return a + b; }

int Max(int a, int b) {
  return a >= b ? a : b;  // duende-mutate: ignore(equivalent: a > b picks the same value)
}

// WEAK: the tests never probe v == lo or v == hi, so the boundary mutants survive.
bool InRange(int v, int lo, int hi) { return v >= lo && v <= hi; }

int Sum(const int* v, int n) {
  int s = 0;
  for (int i = 0; i < n; i = i + 1) s = s + v[i];
  Note();  // WEAK: removing this call survives
  return s;
}

// A `v >= 10` -> `v < 10` mutant loops forever on one-digit input: a timeout.
int CountDigits(int v) {
  int n = 1;
  while (v >= 10) {  // WEAK: CountDigits(10) is not tested: '>=' -> '>' survives
    v = v / 10;
    n = n + 1;
  }
  return n;
}

// WEAK: no test calls it: no coverage.
int Twice(int v) { return v * 2; }

// Only macro code: no mutants at all.
int Square(int v) { return SQUARE(v); }

}  // namespace calc
