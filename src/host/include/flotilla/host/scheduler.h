// Guest calls on fibers over one event loop (DESIGN.md, "Concurrency").
//
// A Scheduler runs tasks, each on its own fiber (Boost.Context), on the thread that runs its
// boost::asio::io_context. A task whose guest blocks in WASI (pollable.block, a blocking
// stream read or write, poll_oneoff) suspends only its own fiber: the waiter() given to the
// guest's wasi::Config registers the descriptors and the deadline with the loop, and the loop
// runs other tasks until one of them is ready. The engine's per-fiber state (where traps
// unwind to, the stack limit) is switched with every fiber switch.
//
// Errors: none cross this API; a task's own failures are the task's business.
#pragma once
#include <flotilla/wasi/wasi.h>

#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <functional>
#include <memory>

namespace flotilla::host {

struct SchedulerImpl;

class Scheduler {
 public:
  // `stack_size`: bytes of stack per fiber (guard page below it).
  explicit Scheduler(boost::asio::io_context& io, size_t stack_size = 1 << 20);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Starts `task` on a new fiber on the loop (from any thread). The task may run guests and
  // block in WASI through waiter().
  void spawn(std::function<void()> task);
  // Tasks started and not yet finished.
  size_t active() const;
  // The wasi::Waiter for guests run by this scheduler's tasks. Called from outside a task
  // (e.g. on another thread), it falls back to blocking that thread in poll(2).
  std::shared_ptr<wasi::Waiter> waiter() const;

 private:
  std::shared_ptr<SchedulerImpl> impl_;
};

}  // namespace flotilla::host
