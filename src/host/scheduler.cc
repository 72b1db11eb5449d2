#include <fcntl.h>
#include <flotilla/engine/engine.h>
#include <flotilla/host/scheduler.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/context/fiber.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>
#include <chrono>
#include <mutex>
#include <unordered_map>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace flotilla::host {

namespace asio = boost::asio;
namespace bctx = boost::context;

namespace {

struct Task {
  bctx::fiber fiber;              // the task itself, while it is not running
  bctx::fiber loop;               // the loop, while the task runs
  engine::FiberState state;       // the task's engine state while it is suspended
  engine::FiberState loop_state;  // the loop's engine state while the task runs
  bool finished = false;
};

// The task running on this thread, if any.
thread_local Task* current = nullptr;

// Guard-paged stacks kept for reuse: mapping and unmapping one per task (a server starts a
// task per request) costs more than the request's own work on some kernels.
// AddressSanitizer keeps the poisoning of a fiber's stack frames in its shadow memory after the
// fiber ends; a stack reused or unmapped with that left in place makes later, unrelated uses
// of the same addresses (another fiber, a guest memory mapped there) look like stack overflows.
void unpoison(const bctx::stack_context& sc) {
#if defined(__SANITIZE_ADDRESS__)
  ASAN_UNPOISON_MEMORY_REGION(static_cast<char*>(sc.sp) - sc.size, sc.size);
#else
  (void)sc;
#endif
}

struct StackPool {
  std::mutex mu;
  size_t size;
  std::vector<bctx::stack_context> free;
  static constexpr size_t kMax = 64;
  explicit StackPool(size_t s) : size(s) {}
  ~StackPool() {
    bctx::protected_fixedsize_stack alloc(size);
    for (auto& sc : free) {
      unpoison(sc);
      alloc.deallocate(sc);
    }
  }
  bctx::stack_context take() {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!free.empty()) {
        auto sc = free.back();
        free.pop_back();
        return sc;
      }
    }
    return bctx::protected_fixedsize_stack(size).allocate();
  }
  void give(bctx::stack_context& sc) {
    unpoison(sc);
    {
      std::lock_guard<std::mutex> lock(mu);
      if (free.size() < kMax) {
        free.push_back(sc);
        return;
      }
    }
    bctx::protected_fixedsize_stack(size).deallocate(sc);
  }
};

// A pooled guard-paged stack that tells where it lies (the engine needs the lowest address).
struct Stack {
  std::shared_ptr<StackPool> pool;
  bctx::stack_context* out;
  bctx::stack_context allocate() {
    auto sc = pool->take();
    *out = sc;
    return sc;
  }
  void deallocate(bctx::stack_context& sc) { pool->give(sc); }
};

}  // namespace

struct SchedulerImpl : std::enable_shared_from_this<SchedulerImpl> {
  asio::io_context& io;
  size_t stack_size;
  std::atomic<size_t> active{0};
  std::unordered_map<Task*, std::shared_ptr<Task>> tasks;  // loop thread only
  std::shared_ptr<wasi::Waiter> waiter;
  std::shared_ptr<StackPool> stacks;

  SchedulerImpl(asio::io_context& i, size_t s)
      : io(i), stack_size(s), stacks(std::make_shared<StackPool>(s)) {}

  // On the loop: runs `t` until it suspends or finishes.
  void resume(const std::shared_ptr<Task>& t) {
    Task* outer = current;
    current = t.get();
    t->loop_state = engine::swap_fiber_state(t->state);
    t->fiber = std::move(t->fiber).resume();
    current = outer;
    if (t->finished) {
      tasks.erase(t.get());
      active.fetch_sub(1);
    }
  }

  // In a task: gives the thread back to the loop until resume(t) is called.
  static void suspend() {
    Task* t = current;
    t->state = engine::swap_fiber_state(t->loop_state);
    t->loop = std::move(t->loop).resume();
    // Running again: resume() has installed this task's engine state.
  }

  std::shared_ptr<Task> find(Task* raw) const {
    auto it = tasks.find(raw);
    return it == tasks.end() ? nullptr : it->second;
  }
};

namespace {

// Suspends the calling task's fiber until a descriptor is ready or the deadline passes.
class FiberWaiter final : public wasi::Waiter {
 public:
  explicit FiberWaiter(std::weak_ptr<SchedulerImpl> s) : s_(std::move(s)) {}

  void wait(std::span<pollfd> fds, std::optional<uint64_t> deadline_ns) override {
    auto impl = s_.lock();
    std::shared_ptr<Task> task = impl && current ? impl->find(current) : nullptr;
    if (!task) {
      wasi::thread_waiter()->wait(fds, deadline_ns);
      return;
    }
    if (fds.empty() && !deadline_ns) return;
    struct Wait {
      bool fired = false;
      std::vector<std::unique_ptr<asio::posix::stream_descriptor>> descs;
      std::vector<short> revents;
      asio::steady_timer timer;
      explicit Wait(asio::io_context& io) : timer(io) {}
    };
    auto w = std::make_shared<Wait>(impl->io);
    w->revents.assign(fds.size(), 0);
    std::weak_ptr<SchedulerImpl> weak = impl;
    auto fire = [w, weak, task](size_t index, short events) {
      if (w->fired) return;
      w->fired = true;
      if (index < w->revents.size()) w->revents[index] = events;
      if (auto s = weak.lock()) s->resume(task);
    };
    bool ready_now = false;
    for (size_t i = 0; i < fds.size(); ++i) {
      fds[i].revents = 0;
      // The loop watches a duplicate: epoll keys registrations by descriptor number, and the
      // guest's descriptor may be watched by other tasks too.
      int dup = ::fcntl(fds[i].fd, F_DUPFD_CLOEXEC, 0);
      auto sd = std::make_unique<asio::posix::stream_descriptor>(impl->io);
      boost::system::error_code ec;
      if (dup >= 0) sd->assign(dup, ec);
      if (dup < 0 || ec) {
        // Regular files (epoll refuses them) are always ready; a bad descriptor is "ready"
        // so that the caller sees its error.
        if (dup >= 0) ::close(dup);
        fds[i].revents = fds[i].events;
        ready_now = true;
        continue;
      }
      short ev = fds[i].events;
      auto what = (ev & POLLIN) ? asio::posix::stream_descriptor::wait_read
                                : asio::posix::stream_descriptor::wait_write;
      sd->async_wait(what, [fire, i, ev](const boost::system::error_code& e) {
        if (e == asio::error::operation_aborted) return;
        fire(i, ev);
      });
      w->descs.push_back(std::move(sd));
    }
    if (!ready_now) {
      if (deadline_ns) {
        w->timer.expires_at(std::chrono::steady_clock::time_point(
            std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                std::chrono::nanoseconds(*deadline_ns))));
        w->timer.async_wait([fire](const boost::system::error_code& e) {
          if (e == asio::error::operation_aborted) return;
          fire(SIZE_MAX, 0);
        });
      }
      SchedulerImpl::suspend();
    }
    w->fired = true;
    for (auto& sd : w->descs) {
      boost::system::error_code ec;
      sd->close(ec);  // cancels its wait; closes the duplicate
    }
    w->timer.cancel();
    for (size_t i = 0; i < fds.size(); ++i)
      if (w->revents[i]) fds[i].revents = w->revents[i];
  }

 private:
  std::weak_ptr<SchedulerImpl> s_;
};

}  // namespace

Scheduler::Scheduler(asio::io_context& io, size_t stack_size)
    : impl_(std::make_shared<SchedulerImpl>(io, stack_size)) {
  impl_->waiter = std::make_shared<FiberWaiter>(impl_);
}

Scheduler::~Scheduler() = default;

void Scheduler::spawn(std::function<void()> fn) {
  impl_->active.fetch_add(1);
  auto t = std::make_shared<Task>();
  bctx::stack_context sc{};
  Task* raw = t.get();
  t->fiber = bctx::fiber(std::allocator_arg, Stack{impl_->stacks, &sc},
                         [raw, fn = std::move(fn)](bctx::fiber&& loop) mutable {
                           raw->loop = std::move(loop);
                           try {
                             fn();
                           } catch (const bctx::detail::forced_unwind&) {
                             throw;
                           } catch (...) {  // NOLINT: a task's failure is its own
                           }
                           raw->finished = true;
                           engine::swap_fiber_state(raw->loop_state);
                           return std::move(raw->loop);
                         });
  t->state = engine::FiberState{nullptr, static_cast<char*>(sc.sp) - sc.size};
  std::weak_ptr<SchedulerImpl> weak = impl_;
  asio::post(impl_->io, [weak, t] {
    if (auto s = weak.lock()) {
      s->tasks.emplace(t.get(), t);
      s->resume(t);
    }
  });
}

size_t Scheduler::active() const { return impl_->active.load(); }

std::shared_ptr<wasi::Waiter> Scheduler::waiter() const { return impl_->waiter; }

}  // namespace flotilla::host
