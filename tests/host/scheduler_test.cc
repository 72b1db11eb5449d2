// Guests on fibers over one event loop: a guest blocked in WASI (fd_read on an empty pipe,
// poll_oneoff on a clock) suspends only its own fiber; the loop's single thread runs the other
// guests meanwhile, including ones that trap.
#include <fcntl.h>
#include <flotilla/engine/engine.h>
#include <flotilla/host/scheduler.h>
#include <flotilla/wasi/wasi.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fe = flotilla::engine;
namespace fw = flotilla::wasi;
namespace fh = flotilla::host;

namespace {

std::vector<uint8_t> wasm(const std::string& name) {
  std::ifstream f(std::filesystem::path(FLOTILLA_TEST_WASM_DIR) / (name + ".wasm"),
                  std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)),
                              std::istreambuf_iterator<char>());
}

struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() { EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0); }
  ~Pipe() {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
};

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest() {
    fe::Config c;
    c.tier = fe::Tier::Baseline;
    c.cache_dir = std::filesystem::path(FLOTILLA_TEST_CACHE_DIR);
    engine_ = std::make_unique<fe::Engine>(c);
    auto m = fe::Module::compile(*engine_, wasm("blocking"), "blocking");
    EXPECT_TRUE(m) << m.error().to_string();
    if (m) module_ = std::make_unique<fe::Module>(std::move(*m));
  }

  // Runs `export(args)` of a fresh instance whose stdin is `stdin_fd`, waiting through `waiter`.
  fe::Result<std::vector<fe::Val>> call(std::shared_ptr<fw::Waiter> waiter, int stdin_fd,
                                        const std::string& name, std::vector<fe::Val> args,
                                        std::vector<int>* bytes = nullptr) {
    fw::Config cfg;
    cfg.stdin_fd = stdin_fd;
    cfg.waiter = std::move(waiter);
    auto ctx = fw::Ctx::create(cfg);
    if (!ctx) return flotilla::Unexpected(ctx.error());
    fe::Store store(*engine_);
    fe::Linker linker;
    if (auto r = fw::add_preview1(linker, store, *ctx); !r) return flotilla::Unexpected(r.error());
    auto inst = linker.instantiate(store, *module_);
    if (!inst) return flotilla::Unexpected(inst.error());
    auto r = inst->get_func(name)->call(store, args);
    if (r && bytes && !r->empty()) {
      for (int i = 0; i < (*r)[0].i32(); ++i) {
        auto b = inst->get_func("byte")->call(store, std::vector<fe::Val>{fe::Val::i32(i)});
        bytes->push_back(b ? (*b)[0].i32() : -1);
      }
    }
    return r;
  }

  std::unique_ptr<fe::Engine> engine_;
  std::unique_ptr<fe::Module> module_;
};

TEST_F(SchedulerTest, BlockedReadSuspendsOnlyItsFiber) {
  ASSERT_TRUE(module_);
  boost::asio::io_context io;
  fh::Scheduler sched(io);
  Pipe pipe;
  std::mutex mu;
  std::vector<std::string> order;
  std::vector<int> got;
  std::atomic<bool> written{false};
  auto note = [&](std::string s) {
    std::lock_guard<std::mutex> l(mu);
    order.push_back(std::move(s));
  };
  std::thread::id loop_thread;

  // A reads its stdin, an empty pipe: it must wait without holding the thread.
  sched.spawn([&] {
    loop_thread = std::this_thread::get_id();
    auto r = call(sched.waiter(), pipe.fds[0], "read", {}, &got);
    EXPECT_TRUE(r) << r.error().to_string();
    if (r) {
      EXPECT_EQ((*r)[0].i32(), 2);
    }
    EXPECT_EQ(std::this_thread::get_id(), loop_thread);
    note("A read");
  });
  // B sleeps in poll_oneoff (suspending too), traps in another guest, then feeds A's pipe.
  sched.spawn([&] {
    EXPECT_EQ(std::this_thread::get_id(), loop_thread);
    auto s = call(sched.waiter(), -1, "sleep", {fe::Val::i64(5'000'000)});
    EXPECT_TRUE(s) << s.error().to_string();
    if (s) {
      EXPECT_EQ((*s)[0].i32(), 0);
    }
    auto t = call(sched.waiter(), -1, "trap", {});
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().trap, fe::TrapKind::Unreachable);
    note("B trapped");
    written = true;
    EXPECT_EQ(::write(pipe.fds[1], "hi", 2), 2);
    note("B wrote");
  });
  // If A held the thread, B would never write: a watchdog unblocks A so the test fails
  // instead of hanging.
  std::thread watchdog([&] {
    for (int i = 0; i < 100 && !written; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!written) {
      EXPECT_EQ(::write(pipe.fds[1], "xx", 2), 2);
    }
  });
  io.run();
  watchdog.join();
  EXPECT_EQ(sched.active(), 0u);
  EXPECT_EQ(order, (std::vector<std::string>{"B trapped", "B wrote", "A read"}));
  EXPECT_EQ(got, (std::vector<int>{'h', 'i'}));
}

TEST_F(SchedulerTest, SleepingGuestsOverlap) {
  ASSERT_TRUE(module_);
  boost::asio::io_context io;
  fh::Scheduler sched(io);
  std::vector<std::string> order;
  // A sleeps 200 ms, B (started after A) 1 ms: B must finish first, on the same thread.
  sched.spawn([&] {
    auto r = call(sched.waiter(), -1, "sleep", {fe::Val::i64(200'000'000)});
    EXPECT_TRUE(r);
    order.push_back("A");
  });
  sched.spawn([&] {
    auto r = call(sched.waiter(), -1, "sleep", {fe::Val::i64(1'000'000)});
    EXPECT_TRUE(r);
    order.push_back("B");
  });
  io.run();
  EXPECT_EQ(order, (std::vector<std::string>{"B", "A"}));
}

TEST_F(SchedulerTest, OutsideATaskTheWaiterBlocksTheThread) {
  ASSERT_TRUE(module_);
  boost::asio::io_context io;
  fh::Scheduler sched(io);
  Pipe pipe;
  std::thread feeder([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(::write(pipe.fds[1], "abc", 3), 3);
  });
  std::vector<int> got;
  auto r = call(sched.waiter(), pipe.fds[0], "read", {}, &got);
  feeder.join();
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ((*r)[0].i32(), 3);
  EXPECT_EQ(got, (std::vector<int>{'a', 'b', 'c'}));
}

}  // namespace
