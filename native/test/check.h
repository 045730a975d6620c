// The native tests' one assertion: counts what held, prints what did not. Each test's main
// prints `passed`/`failed` and exits non-zero when anything failed.
#pragma once
#include <cstdio>
#include <string>

inline int passed = 0, failed = 0;

inline void check(bool ok, const std::string& what) {
  if (ok) {
    passed++;
  } else {
    failed++;
    std::printf("FAIL: %s\n", what.c_str());
  }
}
