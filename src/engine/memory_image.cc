// Prepared initial memory images: a module's linear memory after its active data segments,
// built once per module into a sealed memfd, so that instances map it copy-on-write instead of
// replaying the segments (runtime.cc maps it; codegen.cc makes the replay conditional).
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>

#include "internal.h"

namespace flotilla::engine {
namespace {

constexpr uint64_t kPage = 65536;

// A bounds-checked reader over one section of the binary. Any malformed input makes the
// module ineligible (it is validated elsewhere; this only has to be safe).
struct Reader {
  const uint8_t* p;
  const uint8_t* end;
  bool ok = true;

  bool at_end() const { return p >= end; }
  uint8_t byte() {
    if (p >= end) {
      ok = false;
      return 0;
    }
    return *p++;
  }
  uint64_t uleb(int max_bits) {
    uint64_t v = 0;
    for (int shift = 0; shift < max_bits + 7; shift += 7) {
      uint8_t b = byte();
      if (!ok) return 0;
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    ok = false;
    return 0;
  }
  int64_t sleb32() {
    int64_t v = 0;
    int shift = 0;
    uint8_t b = 0;
    do {
      b = byte();
      if (!ok || shift > 28) {
        ok = false;
        return 0;
      }
      v |= int64_t(b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    if (shift < 64 && (b & 0x40)) v |= -(int64_t(1) << shift);
    return v;
  }
  std::span<const uint8_t> take(uint64_t n) {
    if (uint64_t(end - p) < n) {
      ok = false;
      return {};
    }
    std::span<const uint8_t> s(p, n);
    p += n;
    return s;
  }
};

struct Segment {
  uint64_t offset;
  std::span<const uint8_t> data;
};

// A defined memory's initial pages and its active segments.
struct Plan {
  uint64_t pages = 0;
  bool usable = true;  // false: more initial pages than a 32-bit memory can have
  std::vector<Segment> segments;
};

// Plans for the module's defined memories, in order, or nullopt when no image can apply.
std::optional<std::vector<Plan>> plan_images(std::span<const uint8_t> bytes,
                                             const ModuleMeta& meta) {
  uint64_t imported = 0;  // memory indices below this are imports: not ours to fill
  for (const auto& imp : meta.imports) imported += imp.type.kind == ExternKind::Memory;
  if (bytes.size() < 8) return std::nullopt;
  Reader r{bytes.data() + 8, bytes.data() + bytes.size()};
  std::vector<Plan> plans;
  while (!r.at_end()) {
    uint8_t id = r.byte();
    uint64_t size = r.uleb(32);
    auto body = r.take(size);
    if (!r.ok) return std::nullopt;
    Reader s{body.data(), body.data() + body.size()};
    if (id == 5) {  // memory section
      uint64_t n = s.uleb(32);
      if (n == 0 || n > kMaxMemories) return std::nullopt;
      plans.resize(n);
      for (Plan& plan : plans) {
        uint8_t flags = s.byte();
        if (flags > 1) return std::nullopt;  // shared or 64-bit: limits not read here
        plan.pages = s.uleb(32);
        if (flags == 1) (void)s.uleb(32);
        plan.usable = plan.pages <= 65536;
      }
    } else if (id == 11) {  // data section
      uint64_t n = s.uleb(32);
      for (uint64_t i = 0; i < n && s.ok; ++i) {
        uint64_t flags = s.uleb(32);
        if (flags == 1) {  // passive: memory.init copies it at run time
          (void)s.take(s.uleb(32));
          continue;
        }
        uint64_t memidx = flags == 2 ? s.uleb(32) : 0;
        if (flags > 2) return std::nullopt;
        // Only `i32.const N; end` offsets: anything else depends on imported globals.
        if (s.byte() != 0x41) return std::nullopt;
        auto offset = static_cast<uint64_t>(static_cast<uint32_t>(s.sleb32()));
        if (s.byte() != 0x0b) return std::nullopt;
        auto data = s.take(s.uleb(32));
        if (!s.ok) return std::nullopt;
        if (memidx < imported) continue;  // an imported memory's: always replayed
        if (memidx - imported >= plans.size()) return std::nullopt;
        plans[memidx - imported].segments.push_back({offset, data});
      }
    }
    if (!s.ok) return std::nullopt;
  }
  if (plans.empty()) return std::nullopt;
  return plans;
}

// Whether `plan` gets an image: some data, every segment in bounds (one out of bounds traps at
// instantiation: keep replaying them so it still does), and too large for the memory pool.
bool wants_image(const Plan& plan) {
  if (!plan.usable || plan.pages * kPage <= kMemoryPoolMaxBytes) return false;
  uint64_t limit = plan.pages * kPage;
  bool any = false;
  for (const auto& seg : plan.segments) {
    if (seg.offset > limit || seg.data.size() > limit - seg.offset) return false;
    any |= !seg.data.empty();
  }
  return any;
}

std::unique_ptr<const MemoryImage> build_image(const Plan& plan);

}  // namespace

MemoryImage::~MemoryImage() {
  if (fd >= 0) close(fd);
}

std::shared_ptr<const MemoryImages> build_memory_images(std::span<const uint8_t> bytes,
                                                        const ModuleMeta& meta) {
  auto plans = plan_images(bytes, meta);
  if (!plans) return nullptr;
  auto images = std::make_shared<MemoryImages>();
  bool any = false;
  for (const Plan& plan : *plans) {
    // Small memories come zeroed from the memory pool, where replaying segments is cheaper than
    // mapping and unmapping an image (runtime.cc).
    auto image = wants_image(plan) ? build_image(plan) : nullptr;
    any |= image != nullptr;
    images->memories.push_back(std::move(image));
  }
  if (!any) return nullptr;
  return images;
}

namespace {

std::unique_ptr<const MemoryImage> build_image(const Plan& plan) {
  auto image = std::make_unique<MemoryImage>();
  image->pages = plan.pages;
  image->bytes = plan.pages * kPage;
  image->fd = memfd_create("flotilla-memory-image", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (image->fd < 0) return nullptr;
  if (ftruncate(image->fd, static_cast<off_t>(image->bytes)) != 0) return nullptr;
  // Written with pwritev, segments in order (a later one overwrites an earlier one): runs of
  // ascending segments with small gaps (filled with zeros) go in one call, so the kernel copies
  // straight into the file (a shared mapping instead faulted in every page: 3-4x slower). Pages
  // no run touches stay holes of the file (they read as zeros).
  static const uint8_t kZeros[16384] = {};
  std::vector<iovec> iov;
  uint64_t run_start = 0, run_end = 0;
  auto flush = [&]() -> bool {
    size_t first = 0;
    uint64_t at = run_start;
    while (first < iov.size()) {
      int n = static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
      ssize_t w = pwritev(image->fd, iov.data() + first, n, static_cast<off_t>(at));
      if (w <= 0) return false;
      at += static_cast<uint64_t>(w);
      for (auto left = static_cast<size_t>(w); left > 0;) {  // skip what was written
        if (left >= iov[first].iov_len) {
          left -= iov[first++].iov_len;
        } else {
          iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
          iov[first].iov_len -= left;
          left = 0;
        }
      }
    }
    iov.clear();
    return true;
  };
  for (const auto& seg : plan.segments) {
    if (seg.data.empty()) continue;
    if (iov.empty() || seg.offset < run_end || seg.offset - run_end > sizeof kZeros) {
      if (!flush()) return nullptr;
      run_start = run_end = seg.offset;
    } else if (seg.offset > run_end) {
      iov.push_back({const_cast<uint8_t*>(kZeros), seg.offset - run_end});
    }
    iov.push_back({const_cast<uint8_t*>(seg.data.data()), seg.data.size()});
    run_end = seg.offset + seg.data.size();
  }
  if (!flush()) return nullptr;
  // Sealed: no one (guest writes go to private copies) can change the image any more.
  if (fcntl(image->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
    return nullptr;
  return image;
}

}  // namespace
}  // namespace flotilla::engine
