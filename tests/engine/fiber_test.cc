// Guest calls on Boost.Context fibers: a guest suspended inside a host call while other fibers
// run guests that trap and exhaust their (small) stacks, then resumes and completes.
#include <flotilla/engine/engine.h>
#include <gtest/gtest.h>

#include <boost/context/fiber.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>
#include <filesystem>
#include <fstream>

namespace fe = flotilla::engine;
namespace ctx = boost::context;
using VT = fe::ValType;

namespace {

std::vector<uint8_t> wasm(const std::string& name) {
  std::ifstream f(std::filesystem::path(FLOTILLA_TEST_WASM_DIR) / (name + ".wasm"),
                  std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)),
                              std::istreambuf_iterator<char>());
}

// A stack allocator that remembers where the stack lies.
struct RecordingStack {
  ctx::protected_fixedsize_stack inner{256 * 1024};
  ctx::stack_context* out;
  ctx::stack_context allocate() {
    auto sc = inner.allocate();
    *out = sc;
    return sc;
  }
  void deallocate(ctx::stack_context& sc) { inner.deallocate(sc); }
};

void* stack_low(const ctx::stack_context& sc) { return static_cast<char*>(sc.sp) - sc.size; }

class FiberTest : public ::testing::TestWithParam<fe::Tier> {};

TEST_P(FiberTest, GuestStateFollowsTheFiber) {
  fe::Config c;
  c.tier = GetParam();
  c.cache_dir = std::filesystem::path(FLOTILLA_TEST_CACHE_DIR);
  fe::Engine engine(c);
  auto module = fe::Module::compile(engine, wasm("fiber"), "fiber");
  ASSERT_TRUE(module) << module.error().to_string();

  ctx::stack_context worker_stack{}, other_stack{};
  ctx::fiber main_fiber;  // where the worker yields to
  fe::FiberState main_state, worker_state;
  std::optional<fe::Result<std::vector<fe::Val>>> worker_result;

  // Worker fiber: a guest call that yields inside a host import.
  ctx::fiber worker(std::allocator_arg, RecordingStack{{}, &worker_stack}, [&](ctx::fiber&& sink) {
    main_fiber = std::move(sink);
    fe::Store store(engine);
    fe::Linker linker;
    EXPECT_TRUE(linker.define_func(
        store, "host", "yield", {{VT::I32}, {VT::I32}},
        [&](fe::Caller&, std::span<const fe::Val> p, std::span<fe::Val> r) -> fe::Result<void> {
          // Suspend this fiber with its guest call on the stack; whoever
          // resumes it installs worker_state again.
          worker_state = fe::swap_fiber_state(main_state);
          main_fiber = std::move(main_fiber).resume();
          r[0] = fe::Val::i32(p[0].i32() * 2);
          return {};
        }));
    auto inst = linker.instantiate(store, *module);
    EXPECT_TRUE(inst);
    worker_result = inst->get_func("work")->call(store, std::vector<fe::Val>{fe::Val::i32(21)});
    fe::swap_fiber_state(main_state);
    return std::move(main_fiber);
  });

  // Enter the worker as a fresh fiber (its stack was allocated when it was created); it comes
  // back suspended inside its guest call.
  main_state = fe::swap_fiber_state(fe::FiberState{nullptr, stack_low(worker_stack)});
  worker = std::move(worker).resume();
  EXPECT_FALSE(worker_result.has_value());

  // Meanwhile another fiber runs guests that trap and that exhaust its 256 KiB stack. Without
  // per-fiber state the traps would unwind into the suspended worker's frame.
  ctx::fiber other(std::allocator_arg, RecordingStack{{}, &other_stack}, [&](ctx::fiber&& back) {
    auto saved = fe::swap_fiber_state(fe::FiberState{nullptr, stack_low(other_stack)});
    fe::Store store(engine);  // default limits: a 1 MiB wasm stack budget, more than this fiber has
    fe::Linker linker;
    EXPECT_TRUE(linker.define_func(
        store, "host", "yield", {{VT::I32}, {VT::I32}},
        [](fe::Caller&, std::span<const fe::Val> p, std::span<fe::Val> r) -> fe::Result<void> {
          r[0] = p[0];
          return {};
        }));
    auto inst = linker.instantiate(store, *module);
    EXPECT_TRUE(inst);
    auto r =
        inst->get_func("div")->call(store, std::vector<fe::Val>{fe::Val::i32(1), fe::Val::i32(0)});
    EXPECT_FALSE(r);
    if (!r) {
      EXPECT_EQ(*r.error().trap, fe::TrapKind::IntegerDivideByZero);
    }
    r = inst->get_func("recurse")->call(store, std::vector<fe::Val>{fe::Val::i32(1)});
    EXPECT_FALSE(r);
    if (!r) {
      EXPECT_EQ(*r.error().trap, fe::TrapKind::CallStackExhausted);
    }
    r = inst->get_func("work")->call(store, std::vector<fe::Val>{fe::Val::i32(5)});
    EXPECT_TRUE(r);
    if (r) {
      EXPECT_EQ((*r)[0].i32(), 1005);
    }
    fe::swap_fiber_state(saved);
    return std::move(back);
  });
  other = std::move(other).resume();

  // Resume the worker: its host call returns and the guest completes.
  main_state = fe::swap_fiber_state(worker_state);
  worker = std::move(worker).resume();
  ASSERT_TRUE(worker_result.has_value());
  ASSERT_TRUE(*worker_result) << worker_result->error().to_string();
  EXPECT_EQ((**worker_result)[0].i32(), 1042);
}

// Exceptions follow the fiber too: a guest suspended inside a try_table while another fiber's
// guests throw (caught and uncaught) resumes, throws, and lands in its own try.
TEST_P(FiberTest, TryBlocksFollowTheFiber) {
  if (!std::filesystem::exists(std::filesystem::path(FLOTILLA_TEST_WASM_DIR) / "eh_fiber.wasm"))
    GTEST_SKIP() << "exception-handling test modules not built (jco)";
  fe::Config c;
  c.tier = GetParam();
  c.cache_dir = std::filesystem::path(FLOTILLA_TEST_CACHE_DIR);
  fe::Engine engine(c);
  auto module = fe::Module::compile(engine, wasm("eh_fiber"), "eh_fiber");
  ASSERT_TRUE(module) << module.error().to_string();

  ctx::stack_context worker_stack{}, other_stack{};
  ctx::fiber main_fiber;
  fe::FiberState main_state, worker_state;
  std::optional<fe::Result<std::vector<fe::Val>>> worker_result;
  ctx::fiber worker(std::allocator_arg, RecordingStack{{}, &worker_stack}, [&](ctx::fiber&& sink) {
    main_fiber = std::move(sink);
    fe::Store store(engine);
    fe::Linker linker;
    EXPECT_TRUE(linker.define_func(
        store, "host", "yield", {{}, {}},
        [&](fe::Caller&, std::span<const fe::Val>, std::span<fe::Val>) -> fe::Result<void> {
          worker_state = fe::swap_fiber_state(main_state);
          main_fiber = std::move(main_fiber).resume();
          return {};
        }));
    auto inst = linker.instantiate(store, *module);
    EXPECT_TRUE(inst);
    worker_result = inst->get_func("work")->call(store, std::vector<fe::Val>{fe::Val::i32(21)});
    fe::swap_fiber_state(main_state);
    return std::move(main_fiber);
  });
  main_state = fe::swap_fiber_state(fe::FiberState{nullptr, stack_low(worker_stack)});
  worker = std::move(worker).resume();
  EXPECT_FALSE(worker_result.has_value());

  ctx::fiber other(std::allocator_arg, RecordingStack{{}, &other_stack}, [&](ctx::fiber&& back) {
    auto saved = fe::swap_fiber_state(fe::FiberState{nullptr, stack_low(other_stack)});
    fe::Store store(engine);
    fe::Linker linker;
    EXPECT_TRUE(linker.define_func(store, "host", "yield", {{}, {}},
                                   [](fe::Caller&, std::span<const fe::Val>,
                                      std::span<fe::Val>) -> fe::Result<void> { return {}; }));
    auto inst = linker.instantiate(store, *module);
    EXPECT_TRUE(inst);
    // Uncaught first: with a shared unwind target it would land in the suspended worker.
    auto r = inst->get_func("uncaught")->call(store, std::vector<fe::Val>{fe::Val::i32(1)});
    EXPECT_FALSE(r);
    if (!r) {
      EXPECT_EQ(*r.error().trap, fe::TrapKind::UncaughtException);
    }
    r = inst->get_func("catch_here")->call(store, std::vector<fe::Val>{fe::Val::i32(5)});
    EXPECT_TRUE(r);
    if (r) {
      EXPECT_EQ((*r)[0].i32(), 5);
    }
    r = inst->get_func("work")->call(store, std::vector<fe::Val>{fe::Val::i32(6)});
    EXPECT_TRUE(r);
    if (r) {
      EXPECT_EQ((*r)[0].i32(), 6);
    }
    fe::swap_fiber_state(saved);
    return std::move(back);
  });
  other = std::move(other).resume();

  main_state = fe::swap_fiber_state(worker_state);
  worker = std::move(worker).resume();
  ASSERT_TRUE(worker_result.has_value());
  ASSERT_TRUE(*worker_result) << worker_result->error().to_string();
  EXPECT_EQ((**worker_result)[0].i32(), 21);
}

INSTANTIATE_TEST_SUITE_P(Tiers, FiberTest,
                         ::testing::Values(fe::Tier::Baseline, fe::Tier::Optimized),
                         [](const auto& info) { return std::string(fe::tier_name(info.param)); });

}  // namespace
