// The async built-ins of the component model (CanonicalABI.md, "Canonical definitions"): tasks
// and their context storage, task.return, backpressure, waitable sets, subtasks, streams,
// futures, error contexts and the thread built-ins, as core functions a component instance's
// core modules import.
//
// Execution model: a call of a lifted function (sync or async) runs to completion on the
// caller's stack; nothing here suspends a guest. So an async-lowered call always returns
// RETURNED (no subtask handles are ever made), no event is ever pending in a waitable set, and
// an operation that would have to block (waiting on an empty waitable set, a stream or future
// copy with no partner, suspending a thread) traps with a message saying so. Everything else
// follows the specification: the `may_leave` guard, handle table indices shared with
// resources, type checks of stream and future ends, the rules of waitable-set membership.
#include <memory>
#include <string>

#include "internal.h"

namespace flotilla::component {

#define TRY(var, expr)                              \
  auto var##_r = (expr);                            \
  if (!var##_r) return Unexpected(var##_r.error()); \
  auto var = std::move(*var##_r)
#define CHECK(expr)                                     \
  do {                                                  \
    auto check_r_ = (expr);                             \
    if (!check_r_) return Unexpected(check_r_.error()); \
  } while (0)

using K = ast::CanonDef::Kind;
using engine::ValType;
using HK = HandleEntry::Kind;

struct AsyncObject {
  virtual ~AsyncObject() = default;
};

namespace {

struct WaitableSetObj : AsyncObject {
  size_t members = 0;  // waitables joined to this set
};

// A subtask, stream end or future end: it may be joined to one waitable set.
struct WaitableObj : AsyncObject {
  std::weak_ptr<WaitableSetObj> set;
  void join(const std::shared_ptr<WaitableSetObj>& s) {
    if (auto old = set.lock()) old->members--;
    set = s;
    if (s) s->members++;
  }
};

// The state both ends of one stream or future share.
struct SharedCopy {
  TypePtr elem;  // payload type (null: none)
  bool readable_dropped = false, writable_dropped = false;
};

struct CopyEndObj : WaitableObj {
  std::shared_ptr<SharedCopy> shared;
  bool done = false;  // the end saw the other end dropped, or a future's value passed
};

struct ErrorContextObj : AsyncObject {
  std::string message;
};

constexpr int32_t kEventNone = 0;

bool is_waitable(HK k) {
  return k == HK::Subtask || k == HK::StreamReadable || k == HK::StreamWritable ||
         k == HK::FutureReadable || k == HK::FutureWritable;
}

const char* handle_kind_name(HK k) {
  switch (k) {
    case HK::Resource:
      return "resource";
    case HK::WaitableSet:
      return "waitable set";
    case HK::Subtask:
      return "subtask";
    case HK::StreamReadable:
      return "readable stream end";
    case HK::StreamWritable:
      return "writable stream end";
    case HK::FutureReadable:
      return "readable future end";
    case HK::FutureWritable:
      return "writable future end";
    case HK::ErrorContext:
      return "error context";
  }
  return "?";
}

// The entry at index i, which must be of kind k.
Result<HandleEntry*> entry(InstanceState* inst, uint32_t i, HK k, const char* who) {
  auto h = inst->get_handle(i);
  if (!h) return Unexpected(h.error());
  if ((*h)->kind != k) {
    return trap(std::string(who) + ": handle " + std::to_string(i) + " is a " +
                handle_kind_name((*h)->kind) + ", not a " + handle_kind_name(k));
  }
  return *h;
}

Result<uint32_t> add(InstanceState* inst, HK k, std::shared_ptr<AsyncObject> obj) {
  HandleEntry h;
  h.kind = k;
  h.obj = std::move(obj);
  return inst->add_handle(std::move(h));
}

// Stores the (p1, p2) payload of an event at ptr (CanonicalABI.md unpack_event).
Result<void> store_event(const engine::Memory& mem, uint32_t ptr, uint32_t p1, uint32_t p2) {
  uint8_t bytes[8];
  for (int i = 0; i < 4; i++) {
    bytes[i] = static_cast<uint8_t>(p1 >> (8 * i));
    bytes[4 + i] = static_cast<uint8_t>(p2 >> (8 * i));
  }
  if (uint64_t(ptr) + 8 > mem.size())
    return trap("waitable-set: event pointer out of bounds (" + std::to_string(ptr) + ")");
  auto r = mem.write(ptr, bytes);
  if (!r) return trap("waitable-set: event pointer out of bounds");
  return {};
}

// Returns (the trap for) the current task of `inst`.
Result<Task*> current_task(InstanceState* inst, const char* who) {
  if (!inst->task) return trap(std::string(who) + ": no current task (called outside a call)");
  return inst->task;
}

Result<void> check_copy_end(const Builtin& b, HandleEntry& e, const char* who) {
  auto* end = static_cast<CopyEndObj*>(e.obj.get());
  const TypePtr& want = b.type->elem;
  const TypePtr& have = end->shared->elem;
  if (!want != !have || (want && !same_type(*want, *have)))
    return trap(std::string(who) + ": the end's payload type differs from the built-in's");
  return {};
}

Result<void> run(const Builtin& b, engine::Caller& caller, std::span<const engine::Val> p,
                 std::span<engine::Val> out) {
  InstanceState* inst = b.cx.inst;
  const char* who = ast::canon_name(b.kind);
  auto leave_check = [&]() -> Result<void> {
    if (!inst->may_leave) return trap("cannot leave component instance");
    return {};
  };
  auto ret32 = [&](uint32_t v) { out[0] = engine::Val::i32(static_cast<int32_t>(v)); };
  switch (b.kind) {
    case K::ContextGet: {
      TRY(task, current_task(inst, who));
      ret32(static_cast<uint32_t>(task->context[b.index]));
      return {};
    }
    case K::ContextSet: {
      TRY(task, current_task(inst, who));
      task->context[b.index] = p[0].u32();
      return {};
    }
    case K::BackpressureInc:
      if (inst->backpressure == 0xffff) return trap("backpressure.inc: counter overflow");
      inst->backpressure++;
      return {};
    case K::BackpressureDec:
      if (inst->backpressure == 0) return trap("backpressure.dec: counter underflow");
      inst->backpressure--;
      return {};
    case K::TaskReturn: {
      CHECK(leave_check());
      TRY(task, current_task(inst, who));
      const Func::Data& f = *task->func;
      if (!f.cx.async) return trap("task.return: the current task is not an async-lifted call");
      if (task->returned) return trap("task.return: the task has already returned");
      bool same = b.results.size() == f.type.results.size();
      for (size_t i = 0; same && i < b.results.size(); i++) {
        same = same_type(*b.results[i].second, *f.type.results[i].second);
      }
      if (!same) return trap("task.return: result type does not match the current task's");
      if (b.cx.memory.raw() != f.cx.memory.raw() || b.cx.encoding != f.cx.encoding)
        return trap("task.return: canonical options differ from the current task's");
      TRY(vals, lift_flat_values(caller.store(), b.cx, b.results, b.results_tuple, 16, p));
      task->returned = true;
      task->results = std::move(vals);
      return {};
    }
    case K::TaskCancel: {
      CHECK(leave_check());
      TRY(task, current_task(inst, who));
      if (!task->func->cx.async)
        return trap("task.cancel: the current task is not an async-lifted call");
      // Cancellation is only delivered to a task that is blocked; tasks never block here.
      return trap("task.cancel: no cancellation was delivered to the current task");
    }
    case K::ThreadIndex: {
      CHECK(leave_check());
      TRY(task, current_task(inst, who));
      ret32(task->thread_index);
      return {};
    }
    case K::ThreadYield: {
      CHECK(leave_check());
      TRY(task, current_task(inst, who));
      (void)task;
      ret32(0);  // not cancelled: there is no other thread to run
      return {};
    }
    case K::ThreadResumeLater:
    case K::ThreadSuspendThenResume:
    case K::ThreadYieldThenResume:
    case K::ThreadSuspendThenPromote:
    case K::ThreadYieldThenPromote:
      CHECK(leave_check());
      // Only implicit threads exist (thread.new-indirect is not implemented), and none of them
      // is suspended.
      return trap(std::string(who) + ": thread " + std::to_string(p[0].u32()) +
                  " is not a suspended thread");
    case K::ThreadSuspend:
    case K::ThreadNewIndirect:
    case K::ThreadSpawnRef:
    case K::ThreadSpawnIndirect:
    case K::ThreadAvailableParallelism:
      CHECK(leave_check());
      return trap(std::string("not implemented: ") + who + " (threads)");
    case K::WaitableSetNew: {
      CHECK(leave_check());
      TRY(i, add(inst, HK::WaitableSet, std::make_shared<WaitableSetObj>()));
      ret32(i);
      return {};
    }
    case K::WaitableSetWait:
    case K::WaitableSetPoll: {
      CHECK(leave_check());
      TRY(e, entry(inst, p[0].u32(), HK::WaitableSet, who));
      (void)e;
      if (b.kind == K::WaitableSetWait) {
        return trap(
            "waitable-set.wait: no event is pending and none can arrive (calls run to "
            "completion; blocking is not implemented)");
      }
      CHECK(store_event(b.cx.memory, p[1].u32(), 0, 0));
      ret32(kEventNone);
      return {};
    }
    case K::WaitableSetDrop: {
      CHECK(leave_check());
      TRY(e, entry(inst, p[0].u32(), HK::WaitableSet, who));
      if (static_cast<WaitableSetObj*>(e->obj.get())->members > 0)
        return trap("waitable-set.drop: the set still has waitables joined to it");
      CHECK(inst->remove_handle(p[0].u32()));
      return {};
    }
    case K::WaitableJoin: {
      CHECK(leave_check());
      auto w = inst->get_handle(p[0].u32());
      if (!w) return Unexpected(w.error());
      if (!is_waitable((*w)->kind)) {
        return trap("waitable.join: handle " + std::to_string(p[0].u32()) + " is a " +
                    handle_kind_name((*w)->kind) + ", not a waitable");
      }
      auto* wo = static_cast<WaitableObj*>((*w)->obj.get());
      if (p[1].u32() == 0) {
        wo->join(nullptr);
        return {};
      }
      TRY(s, entry(inst, p[1].u32(), HK::WaitableSet, who));
      wo->join(std::static_pointer_cast<WaitableSetObj>(s->obj));
      return {};
    }
    case K::SubtaskCancel:
    case K::SubtaskDrop:
      CHECK(leave_check());
      // Async-lowered calls always return RETURNED here, so no subtask handle ever exists.
      CHECK(entry(inst, p[0].u32(), HK::Subtask, who));
      return trap(std::string(who) + ": unreachable");
    case K::StreamNew:
    case K::FutureNew: {
      CHECK(leave_check());
      const bool stream = b.kind == K::StreamNew;
      auto shared = std::make_shared<SharedCopy>();
      shared->elem = b.type->elem;
      auto r = std::make_shared<CopyEndObj>();
      r->shared = shared;
      auto w = std::make_shared<CopyEndObj>();
      w->shared = shared;
      TRY(ri, add(inst, stream ? HK::StreamReadable : HK::FutureReadable, r));
      TRY(wi, add(inst, stream ? HK::StreamWritable : HK::FutureWritable, w));
      out[0] = engine::Val::i64(static_cast<int64_t>(uint64_t(ri) | (uint64_t(wi) << 32)));
      return {};
    }
    case K::StreamRead:
    case K::StreamWrite:
    case K::FutureRead:
    case K::FutureWrite: {
      CHECK(leave_check());
      const HK k = b.kind == K::StreamRead    ? HK::StreamReadable
                   : b.kind == K::StreamWrite ? HK::StreamWritable
                   : b.kind == K::FutureRead  ? HK::FutureReadable
                                              : HK::FutureWritable;
      TRY(e, entry(inst, p[0].u32(), k, who));
      CHECK(check_copy_end(b, *e, who));
      return trap(std::string("not implemented: ") + who +
                  " (copying through streams and futures)");
    }
    case K::StreamCancelRead:
    case K::StreamCancelWrite:
    case K::FutureCancelRead:
    case K::FutureCancelWrite: {
      CHECK(leave_check());
      const HK k = b.kind == K::StreamCancelRead    ? HK::StreamReadable
                   : b.kind == K::StreamCancelWrite ? HK::StreamWritable
                   : b.kind == K::FutureCancelRead  ? HK::FutureReadable
                                                    : HK::FutureWritable;
      TRY(e, entry(inst, p[0].u32(), k, who));
      CHECK(check_copy_end(b, *e, who));
      return trap(std::string(who) + ": no copy is in progress on this end");
    }
    case K::StreamDropReadable:
    case K::StreamDropWritable:
    case K::FutureDropReadable:
    case K::FutureDropWritable: {
      CHECK(leave_check());
      const HK k = b.kind == K::StreamDropReadable   ? HK::StreamReadable
                   : b.kind == K::StreamDropWritable ? HK::StreamWritable
                   : b.kind == K::FutureDropReadable ? HK::FutureReadable
                                                     : HK::FutureWritable;
      TRY(e, entry(inst, p[0].u32(), k, who));
      CHECK(check_copy_end(b, *e, who));
      auto* end = static_cast<CopyEndObj*>(e->obj.get());
      if (k == HK::FutureWritable && !end->done && !end->shared->readable_dropped)
        return trap("future.drop-writable: the future's value has not been written");
      if (k == HK::StreamReadable || k == HK::FutureReadable) {
        end->shared->readable_dropped = true;
      } else {
        end->shared->writable_dropped = true;
      }
      end->join(nullptr);
      CHECK(inst->remove_handle(p[0].u32()));
      return {};
    }
    case K::ErrorContextNew: {
      CHECK(leave_check());
      TRY(msg, lift_string_at(caller.store(), b.cx, p[0].u32(), p[1].u32()));
      auto ec = std::make_shared<ErrorContextObj>();
      ec->message = std::move(msg);
      TRY(i, add(inst, HK::ErrorContext, ec));
      ret32(i);
      return {};
    }
    case K::ErrorContextDebugMessage: {
      CHECK(leave_check());
      TRY(e, entry(inst, p[0].u32(), HK::ErrorContext, who));
      std::string msg = static_cast<ErrorContextObj*>(e->obj.get())->message;
      inst->may_leave = false;  // realloc may not call out
      auto r = store_string_at(caller.store(), b.cx, msg, p[1].u32());
      inst->may_leave = true;
      return r;
    }
    case K::ErrorContextDrop: {
      CHECK(leave_check());
      CHECK(entry(inst, p[0].u32(), HK::ErrorContext, who));
      CHECK(inst->remove_handle(p[0].u32()));
      return {};
    }
    case K::Lift:
    case K::Lower:
    case K::ResourceNew:
    case K::ResourceDrop:
    case K::ResourceRep:
      break;
  }
  return trap(std::string("unexpected built-in ") + who);
}

}  // namespace

void builtin_sig(Builtin& b) {
  const auto I32 = ValType::I32;
  engine::FuncType& s = b.sig;
  s = {};
  switch (b.kind) {
    case K::TaskReturn: {
      FuncType ft;
      ft.params = b.results;
      s = core_sig(ft, /*lower=*/true);
      return;
    }
    case K::ContextGet:
    case K::WaitableSetNew:
    case K::ThreadIndex:
    case K::ThreadSuspend:
    case K::ThreadYield:
    case K::ThreadAvailableParallelism:
      s.results = {I32};
      return;
    case K::ContextSet:
    case K::SubtaskDrop:
    case K::StreamDropReadable:
    case K::StreamDropWritable:
    case K::FutureDropReadable:
    case K::FutureDropWritable:
    case K::ErrorContextDrop:
    case K::WaitableSetDrop:
    case K::ThreadResumeLater:
      s.params = {I32};
      return;
    case K::SubtaskCancel:
    case K::StreamCancelRead:
    case K::StreamCancelWrite:
    case K::FutureCancelRead:
    case K::FutureCancelWrite:
    case K::ThreadSuspendThenResume:
    case K::ThreadYieldThenResume:
    case K::ThreadSuspendThenPromote:
    case K::ThreadYieldThenPromote:
      s.params = {I32};
      s.results = {I32};
      return;
    case K::StreamNew:
    case K::FutureNew:
      s.results = {ValType::I64};
      return;
    case K::StreamRead:
    case K::StreamWrite:
      s.params = {I32, I32, I32};
      s.results = {I32};
      return;
    case K::FutureRead:
    case K::FutureWrite:
    case K::ErrorContextNew:
    case K::WaitableSetWait:
    case K::WaitableSetPoll:
    case K::ThreadNewIndirect:
      s.params = {I32, I32};
      s.results = {I32};
      return;
    case K::ErrorContextDebugMessage:
    case K::WaitableJoin:
      s.params = {I32, I32};
      return;
    case K::ThreadSpawnRef:
      s.params = {I32};
      s.results = {I32};
      return;
    case K::ThreadSpawnIndirect:
      s.params = {I32, I32};
      s.results = {I32};
      return;
    default:  // backpressure.inc/dec, task.cancel
      return;
  }
}

Result<engine::Func> make_builtin(engine::Store& store, std::shared_ptr<const Builtin> b) {
  engine::FuncType sig = b->sig;
  auto fn = [b](engine::Caller& caller, std::span<const engine::Val> params,
                std::span<engine::Val> results) -> Result<void> {
    return run(*b, caller, params, results);
  };
  return engine::Func::host(store, sig, fn);
}

void enter_task(InstanceState* inst, Task& task, const Func::Data& f) {
  task.func = &f;
  task.outer = inst->task;
  task.thread_index = ++inst->threads;
  inst->task = &task;
}

void leave_task(InstanceState* inst, Task& task) {
  inst->task = task.outer;
  inst->threads--;
}

Result<void> run_callback_loop(engine::Store& store, const Func::Data& f, uint32_t packed) {
  InstanceState* inst = f.cx.inst;
  constexpr uint32_t kExit = 0, kWait = 2;  // and 1: YIELD
  for (;;) {
    const uint32_t code = packed & 0xf;
    if (code > kWait)
      return trap("async callback returned an invalid code " + std::to_string(code));
    if (code == kExit) return {};
    if (code == kWait) {
      auto e = entry(inst, packed >> 4, HK::WaitableSet, "async callback (WAIT)");
      if (!e) return Unexpected(e.error());
      return trap(
          "async callback asked to WAIT: no event is pending and none can arrive (calls "
          "run to completion; blocking is not implemented)");
    }
    // YIELD: there is no other thread to run, so the callback is called again at once with no
    // event.
    engine::Val args[3] = {engine::Val::i32(kEventNone), engine::Val::i32(0), engine::Val::i32(0)};
    engine::Val res[1];
    auto r = f.cx.callback.call(store, args, res);
    if (!r) return Unexpected(r.error());
    packed = res[0].u32();
  }
}

}  // namespace flotilla::component
