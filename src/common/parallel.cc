#include "common/parallel.h"

#include <algorithm>
#include <atomic>
#include <system_error>
#include <thread>
#include <vector>

namespace flowsql {

void ParallelFor(size_t n, size_t threads, const std::function<void(size_t)>& f) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < n;) f(i);
  };
  std::vector<std::thread> started;
  try {
    for (size_t t = 1; t < std::min(n, threads); ++t) started.emplace_back(work);
  } catch (const std::system_error&) {
    // Fewer threads: the ones running do the rest.
  }
  work();
  for (auto& t : started) t.join();
}

}  // namespace flowsql
