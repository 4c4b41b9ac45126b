// Blocking work (file inspection, I/O, calls that wait on a server) spread over
// threads of its own, never a pool's: a pool thread that waits starves the pool.
#pragma once

#include <cstddef>
#include <functional>

namespace flowsql {

/// Runs f(i) for every i in [0, n) on up to `threads` threads, this one among them,
/// each taking the next i until none is left. Where a thread cannot be started, the
/// ones running do the rest. Returns when every f(i) has returned. `f` must not
/// throw.
void ParallelFor(size_t n, size_t threads, const std::function<void(size_t)>& f);

}  // namespace flowsql
