#pragma once

namespace calc {

extern int g_events;

int Add(int a, int b);
int Max(int a, int b);
bool InRange(int v, int lo, int hi);
int Sum(const int* v, int n);
int CountDigits(int v);
int Twice(int v);
int Square(int v);
void Note();

}  // namespace calc
