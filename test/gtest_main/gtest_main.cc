// The main() of every gtest binary: runs the tests, then leaves without running
// static destructors.
//
// Arrow shuts its CPU and IO thread pools down in static destructors. A scan the
// test stopped early (a LIMIT over a CSV file) may still have a readahead task in
// the IO pool; releasing its generator on a pool thread during that shutdown waits
// for the pool itself, and the process never exits (seen in ctest, intermittently).
// Everything a test checks has been checked by then.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FLOWSQL_LSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FLOWSQL_LSAN 1
#endif

#ifdef FLOWSQL_LSAN
#include <sanitizer/lsan_interface.h>
#endif

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  int rc = RUN_ALL_TESTS();
#ifdef FLOWSQL_LSAN
  // _Exit skips LeakSanitizer's exit-time check: run it here.
  if (__lsan_do_recoverable_leak_check() != 0 && rc == 0) rc = 1;
#endif
  std::fflush(nullptr);
  std::_Exit(rc);
}
