// The async built-ins of the component model (CanonicalABI.md, "Canonical definitions"): tasks
// and their context storage, task.return, backpressure, waitable sets, subtasks, streams,
// futures, error contexts and the thread built-ins, as core functions a component instance's
// core modules import.
//
// Execution model: a call of a lifted function (sync or async) runs to completion on the
// caller's stack; nothing here suspends a guest. So an async-lowered call always returns
// RETURNED (no subtask handles are ever made), and an operation that would have to block (a
// synchronous stream or future copy with no partner waiting, waiting on a waitable set with no
// event pending, suspending a thread) traps with a message saying so. Everything else follows
// the specification: the `may_leave` guard, handle table indices shared with resources, the
// stream and future rendezvous with its events, type and state checks of the ends, the rules
// of waitable-set membership.
#include <memory>
#include <string>

#include "internal.h"
#include "try.h"

namespace flotilla::component {

using K = ast::CanonDef::Kind;
using engine::ValType;
using HK = HandleEntry::Kind;

struct AsyncObject {
  virtual ~AsyncObject() = default;
};

namespace {

struct WaitableObj;

// Events (CanonicalABI.md EventCode) and copy results (CopyResult).
constexpr uint32_t kEventNone = 0, kEventStreamRead = 2, kEventStreamWrite = 3,
                   kEventFutureRead = 4, kEventFutureWrite = 5;
constexpr uint32_t kCompleted = 0, kDropped = 1, kCancelled = 2;
constexpr uint32_t kBlocked = 0xffffffff;
constexpr uint32_t kMaxBufferLength = (1u << 28) - 1;

struct Event {
  uint32_t code = kEventNone, p1 = 0, p2 = 0;
};

struct WaitableSetObj : AsyncObject {
  std::vector<WaitableObj*> elems;  // joined waitables (they leave the set before they die)
};

// A subtask, stream end or future end: it may be joined to one waitable set and may have a
// pending event.
struct WaitableObj : AsyncObject {
  std::weak_ptr<WaitableSetObj> set;
  bool has_event = false;
  ~WaitableObj() override { join(nullptr); }
  void join(const std::shared_ptr<WaitableSetObj>& s) {
    if (auto old = set.lock()) std::erase(old->elems, this);
    set = s;
    if (s) s->elems.push_back(this);
  }
  bool in_set() const { return !set.expired(); }
  // Delivers the pending event (has_event must be set).
  virtual Event take_event() = 0;
};

// One side of a copy: guest memory described by the options of the stream.read/write or
// future.read/write that offered it (CanonicalABI.md BufferGuestImpl).
struct CopyBuffer {
  CanonContext cx;
  TypePtr elem;  // null: a stream or future without payload
  uint32_t ptr = 0, length = 0, progress = 0;
  uint32_t remain() const { return length - progress; }
};

struct CopyEndObj;

// The state both ends of one stream or future share (SharedStreamImpl / SharedFutureImpl):
// whether an end was dropped, and the copy one end offered that waits for the other end.
struct SharedCopy {
  TypePtr elem;  // payload type (null: none)
  bool future = false;
  bool dropped = false;
  CopyEndObj* pending_end = nullptr;  // the end that offered the pending buffer
  InstanceState* pending_inst = nullptr;
  std::shared_ptr<CopyBuffer> pending_buf;
  void reset_pending() {
    pending_end = nullptr;
    pending_inst = nullptr;
    pending_buf.reset();
  }
  // Ends the pending copy with `result` (its end gets an event).
  void reset_and_notify_pending(uint32_t result);
  void drop() {
    if (!dropped) {
      dropped = true;
      if (pending_buf) reset_and_notify_pending(kDropped);
    }
  }
};

enum class CopyState { Idle, Copying, Cancelling, Done };

struct CopyEndObj : WaitableObj {
  std::shared_ptr<SharedCopy> shared;
  bool readable = true;
  CopyState state = CopyState::Idle;
  uint32_t index = 0;               // handle index of the copy in progress
  std::shared_ptr<CopyBuffer> buf;  // the copy in progress
  uint32_t result = kCompleted;     // of the pending event
  bool reclaim = false;             // the event takes back a buffer still offered
  ~CopyEndObj() override {
    // An end that dies with its instance while offering a buffer: the buffer goes away.
    if (shared && shared->pending_end == this) shared->reset_pending();
  }
  bool copying() const { return state == CopyState::Copying || state == CopyState::Cancelling; }
  void set_event(uint32_t r, bool reclaim_buffer) {
    has_event = true;
    result = r;
    reclaim = reclaim_buffer;
  }
  Event take_event() override {
    has_event = false;
    if (reclaim && shared->pending_end == this) shared->reset_pending();
    reclaim = false;
    Event e;
    e.p1 = index;
    if (shared->future) {
      e.code = readable ? kEventFutureRead : kEventFutureWrite;
      state = result == kDropped || result == kCompleted ? CopyState::Done : CopyState::Idle;
      e.p2 = result;
    } else {
      e.code = readable ? kEventStreamRead : kEventStreamWrite;
      state = result == kDropped ? CopyState::Done : CopyState::Idle;
      e.p2 = result | ((buf ? buf->progress : 0) << 4);
    }
    buf.reset();
    return e;
  }
};

void SharedCopy::reset_and_notify_pending(uint32_t result) {
  CopyEndObj* end = pending_end;
  reset_pending();
  if (end) end->set_event(result, false);
}

// An event pending on one of the set's waitables, if any.
std::optional<Event> poll_set(WaitableSetObj& set) {
  for (WaitableObj* w : set.elems) {
    if (w->has_event) return w->take_event();
  }
  return std::nullopt;
}

struct ErrorContextObj : AsyncObject {
  std::string message;
};

bool numeric_or_none(const TypePtr& t) {
  if (!t) return true;
  switch (t->kind) {
    case TypeKind::U8:
    case TypeKind::U16:
    case TypeKind::U32:
    case TypeKind::U64:
    case TypeKind::S8:
    case TypeKind::S16:
    case TypeKind::S32:
    case TypeKind::S64:
    case TypeKind::F32:
    case TypeKind::F64:
      return true;
    default:
      return false;
  }
}

// Moves n values from the readable buffer `src` to the writable buffer `dst`.
Result<void> move_values(engine::Store& store, CopyBuffer& src, CopyBuffer& dst, uint32_t n) {
  if (src.elem && n > 0) {
    const uint32_t size = abi_elem_size(*src.elem);
    CHECK(copy_elems(store, src.cx, src.ptr + src.progress * size, dst.cx,
                     dst.ptr + dst.progress * size, src.elem, n));
  }
  src.progress += n;
  dst.progress += n;
  return {};
}

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

// stream.read/write and future.read/write of n values at ptr on end `obj` (handle i):
// CanonicalABI.md stream_copy / future_copy with the SharedStreamImpl / SharedFutureImpl
// rendezvous. Returns the packed result, or BLOCKED for an async copy that waits for the other
// end (a synchronous one would block: it traps).
Result<uint32_t> copy(const Builtin& b, engine::Store& store, InstanceState* inst,
                      const std::shared_ptr<AsyncObject>& obj, uint32_t i, uint32_t ptr,
                      uint32_t n) {
  const char* who = ast::canon_name(b.kind);
  auto* end = static_cast<CopyEndObj*>(obj.get());
  auto keep = end->shared;  // the ends may go away while guest code runs (realloc)
  SharedCopy& sh = *keep;
  if (end->state != CopyState::Idle) {
    return trap(std::string(who) + ": the end is " +
                (end->state == CopyState::Done ? "done" : "already copying"));
  }
  if (end->in_set() && !b.cx.async)
    return trap(std::string(who) + ": a synchronous copy on an end in a waitable set");
  if (n > kMaxBufferLength) return trap(std::string(who) + ": length too large");
  auto buf = std::make_shared<CopyBuffer>();
  buf->cx = b.cx;
  buf->elem = sh.elem;
  buf->ptr = ptr;
  buf->length = n;
  if (sh.elem && n > 0) {
    const uint64_t align = abi_alignment(*sh.elem), size = abi_elem_size(*sh.elem);
    if (ptr % align != 0) return trap(std::string(who) + ": misaligned pointer");
    if (!b.cx.memory || uint64_t(ptr) + uint64_t(n) * size > b.cx.memory.size())
      return trap(std::string(who) + ": buffer out of bounds");
  }
  end->state = CopyState::Copying;
  end->index = i;
  end->buf = buf;
  auto offer = [&] {
    sh.pending_end = end;
    sh.pending_inst = inst;
    sh.pending_buf = buf;
  };
  auto same_instance = [&]() -> Result<void> {
    if (inst == sh.pending_inst && !numeric_or_none(sh.elem)) {
      return trap(std::string(who) +
                  ": both ends of a copy of non-numeric values are in the same instance");
    }
    return {};
  };
  if (!sh.future) {
    if (sh.dropped) {
      end->set_event(kDropped, false);
    } else if (!sh.pending_buf) {
      offer();
    } else {
      CHECK(same_instance());
      auto other = sh.pending_buf;
      CopyEndObj* other_end = sh.pending_end;
      if (other->remain() > 0) {
        if (buf->remain() > 0) {
          const uint32_t m = std::min(buf->remain(), other->remain());
          CHECK(end->readable ? move_values(store, *other, *buf, m)
                              : move_values(store, *buf, *other, m));
          if (sh.pending_end == other_end && other_end)
            other_end->set_event(kCompleted, /*reclaim_buffer=*/true);
        }
        end->set_event(kCompleted, false);
      } else if (!end->readable && buf->length == 0 && other->length == 0) {
        end->set_event(kCompleted, false);
      } else {
        sh.reset_and_notify_pending(kCompleted);
        offer();
      }
    }
  } else if (end->readable) {
    if (sh.dropped) return trap(std::string(who) + ": the writable end was dropped");
    if (!sh.pending_buf) {
      offer();
    } else {
      CHECK(same_instance());
      auto other = sh.pending_buf;
      CHECK(move_values(store, *other, *buf, 1));
      if (sh.pending_buf == other) sh.reset_and_notify_pending(kCompleted);
      end->set_event(kCompleted, false);
    }
  } else {
    if (sh.dropped) {
      end->set_event(kDropped, false);
    } else if (!sh.pending_buf) {
      offer();
    } else {
      CHECK(same_instance());
      auto other = sh.pending_buf;
      CHECK(move_values(store, *buf, *other, 1));
      if (sh.pending_buf == other) sh.reset_and_notify_pending(kCompleted);
      end->set_event(kCompleted, false);
    }
  }
  if (!end->has_event) {
    if (!b.cx.async) {
      return trap(std::string(who) +
                  ": would block until the other end copies (a synchronous copy with no "
                  "waiting partner; blocking is not implemented)");
    }
    return kBlocked;
  }
  return end->take_event().p2;
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
      // CanonicalABI.md compares the memory options by identity; a task.return without a
      // memory option (its result needs none) is accepted for a lift that has one, as the
      // reference tests (async/cross-abi-calls) and the toolchains expect.
      if ((b.cx.memory && b.cx.memory.raw() != f.cx.memory.raw()) || b.cx.encoding != f.cx.encoding)
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
      auto ev = poll_set(*static_cast<WaitableSetObj*>(e->obj.get()));
      if (!ev && b.kind == K::WaitableSetWait) {
        return trap(
            "waitable-set.wait: no event is pending and none can arrive (calls run to "
            "completion; blocking is not implemented)");
      }
      Event out_ev = ev.value_or(Event{});
      CHECK(store_event(b.cx.memory, p[1].u32(), out_ev.p1, out_ev.p2));
      ret32(out_ev.code);
      return {};
    }
    case K::WaitableSetDrop: {
      CHECK(leave_check());
      TRY(e, entry(inst, p[0].u32(), HK::WaitableSet, who));
      if (!static_cast<WaitableSetObj*>(e->obj.get())->elems.empty())
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
      shared->future = !stream;
      auto r = std::make_shared<CopyEndObj>();
      r->shared = shared;
      auto w = std::make_shared<CopyEndObj>();
      w->shared = shared;
      w->readable = false;
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
      const uint32_t i = p[0].u32();
      TRY(e, entry(inst, i, k, who));
      CHECK(check_copy_end(b, *e, who));
      const bool stream = b.kind == K::StreamRead || b.kind == K::StreamWrite;
      auto obj = e->obj;  // the copy may run guest code (realloc) that changes the table
      TRY(r, copy(b, caller.store(), inst, obj, i, p[1].u32(), stream ? p[2].u32() : 1));
      ret32(r);
      return {};
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
      auto* end = static_cast<CopyEndObj*>(e->obj.get());
      if (end->state != CopyState::Copying)
        return trap(std::string(who) + ": no copy is in progress on this end");
      if (end->in_set() && !b.flag)
        return trap(std::string(who) + ": a synchronous cancel of an end in a waitable set");
      end->state = CopyState::Cancelling;
      if (!end->has_event) {
        if (end->shared->pending_end == end) end->shared->reset_and_notify_pending(kCancelled);
        if (!end->has_event) {
          if (!b.flag) return trap(std::string(who) + ": would block (not implemented)");
          ret32(kBlocked);
          return {};
        }
      }
      ret32(end->take_event().p2);
      return {};
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
      if (end->copying())
        return trap(std::string(who) + ": cannot drop an end while a copy is in progress");
      if (k == HK::FutureWritable && end->state != CopyState::Done)
        return trap("future.drop-writable: the future's value has not been written");
      end->shared->drop();
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

// The ResourceAny::type of a Val holding a stream, future or error context (so a Val built
// otherwise is never taken for one).
static const ResourceTypePtr& async_tag(TypeKind k) {
  static const ResourceTypePtr stream = std::make_shared<ResourceType>("stream"),
                               future = std::make_shared<ResourceType>("future"),
                               error_context = std::make_shared<ResourceType>("error-context");
  return k == TypeKind::Stream ? stream : k == TypeKind::Future ? future : error_context;
}

Result<Val> lift_async_value(InstanceState* inst, const Type& t, uint32_t i) {
  auto h = inst->get_handle(i);
  if (!h) return Unexpected(h.error());
  HandleEntry& e = **h;
  Val v;
  v.kind = t.kind;
  auto r = std::make_shared<ResourceAny>();
  r->type = async_tag(t.kind);
  if (t.kind == TypeKind::ErrorContext) {
    if (e.kind != HK::ErrorContext) {
      return trap("canonical ABI: handle " + std::to_string(i) + " is a " +
                  handle_kind_name(e.kind) + ", not an error context");
    }
    r->owner = e.obj;  // error contexts are immutable and shared: the handle stays
    v.resource = std::move(r);
    return v;
  }
  const HK want = t.kind == TypeKind::Stream ? HK::StreamReadable : HK::FutureReadable;
  if (e.kind != want) {
    return trap("canonical ABI: handle " + std::to_string(i) + " is a " + handle_kind_name(e.kind) +
                ", not a " + handle_kind_name(want));
  }
  auto* end = static_cast<CopyEndObj*>(e.obj.get());
  const TypePtr& have = end->shared->elem;
  if (!t.elem != !have || (have && !same_type(*t.elem, *have)))
    return trap("canonical ABI: the end's payload type differs from `" + t.to_string() + "`");
  if (end->state != CopyState::Idle)
    return trap("canonical ABI: cannot pass a stream or future end that is copying or done");
  if (end->in_set())
    return trap("canonical ABI: cannot pass a stream or future end that is in a waitable set");
  r->owner = end->shared;
  v.resource = std::move(r);
  CHECK(inst->remove_handle(i));
  return v;
}

Result<uint32_t> lower_async_value(InstanceState* inst, const Val& v, const Type& t) {
  if (v.kind != t.kind || !v.resource || !v.resource->owner ||
      v.resource->type != async_tag(t.kind))
    return trap("canonical ABI: expected a `" + t.to_string() + "` value");
  if (t.kind == TypeKind::ErrorContext)
    return add(inst, HK::ErrorContext, std::static_pointer_cast<AsyncObject>(v.resource->owner));
  auto shared = std::static_pointer_cast<SharedCopy>(v.resource->owner);
  if (!t.elem != !shared->elem || (t.elem && !same_type(*t.elem, *shared->elem)))
    return trap("canonical ABI: the end's payload type differs from `" + t.to_string() + "`");
  auto end = std::make_shared<CopyEndObj>();
  end->shared = std::move(shared);
  return add(inst, t.kind == TypeKind::Stream ? HK::StreamReadable : HK::FutureReadable, end);
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
    Event ev;  // YIELD: there is no other thread to run, so the callback is called again at
               // once with no event
    if (code == kWait) {
      auto e = entry(inst, packed >> 4, HK::WaitableSet, "async callback (WAIT)");
      if (!e) return Unexpected(e.error());
      auto got = poll_set(*static_cast<WaitableSetObj*>((*e)->obj.get()));
      if (!got) {
        return trap(
            "async callback asked to WAIT: no event is pending and none can arrive "
            "(calls run to completion; blocking is not implemented)");
      }
      ev = *got;
    }
    engine::Val args[3] = {engine::Val::i32(static_cast<int32_t>(ev.code)),
                           engine::Val::i32(static_cast<int32_t>(ev.p1)),
                           engine::Val::i32(static_cast<int32_t>(ev.p2))};
    engine::Val res[1];
    auto r = f.cx.callback.call(store, args, res);
    if (!r) return Unexpected(r.error());
    packed = res[0].u32();
  }
}

}  // namespace flotilla::component
