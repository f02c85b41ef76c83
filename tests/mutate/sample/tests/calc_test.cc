// Weak on purpose (see src/calc.cc). Usage: calc_test add|range|sum|digits
#include "calc.h"

#include <cstdio>
#include <cstring>

#define CHECK(c)                                                   \
  do {                                                             \
    if (!(c)) {                                                    \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); \
      return 1;                                                    \
    }                                                              \
  } while (0)

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const char* t = argv[1];
  if (std::strcmp(t, "add") == 0) {
    CHECK(calc::Add(2, 3) == 5);
    CHECK(calc::Max(2, 7) == 7);
    CHECK(calc::Max(9, 4) == 9);
    return 0;
  }
  if (std::strcmp(t, "range") == 0) {
    CHECK(calc::InRange(5, 0, 10));
    CHECK(!calc::InRange(-3, 0, 10));
    CHECK(!calc::InRange(15, 0, 10));
    return 0;
  }
  if (std::strcmp(t, "sum") == 0) {
    int v[] = {1, 2, 3, 4};
    CHECK(calc::Sum(v, 4) == 10);
    CHECK(calc::Sum(v, 0) == 0);
    return 0;
  }
  if (std::strcmp(t, "digits") == 0) {
    CHECK(calc::CountDigits(7) == 1);
    CHECK(calc::CountDigits(123) == 3);
    CHECK(calc::CountDigits(4567) == 4);
    return 0;
  }
  return 2;
}
