// http::Pipe: an HTTP body between a connection and a guest, with lazily made event
// descriptors for guests that wait through a wasi::Waiter.
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "p2.h"
#include "sys.h"

namespace flotilla::wasi::http {

// An eventfd kept readable exactly while a condition holds.
struct Pipe::Event {
  sys::Fd fd;
  bool signalled = false;
  void set(bool on) {
    if (!fd || on == signalled) return;
    if (on) {
      uint64_t one = 1;
      ssize_t n = ::write(fd.get(), &one, sizeof one);
      (void)n;
    } else {
      uint64_t v;
      ssize_t n = ::read(fd.get(), &v, sizeof v);
      (void)n;
    }
    signalled = on;
  }
};

Pipe::Pipe(size_t capacity) : capacity_(capacity) {}
Pipe::~Pipe() = default;

void Pipe::set_capacity(size_t capacity) {
  capacity_ = capacity;
  changed();
}

size_t Pipe::space() const {
  if (reader_gone_ || closed_) return 0;
  return size_ >= capacity_ ? 0 : capacity_ - size_;
}

void Pipe::push(const uint8_t* data, size_t n) {
  if (n == 0 || closed_) return;
  push(std::string(reinterpret_cast<const char*>(data), n));
}

void Pipe::push(std::string data) {
  if (data.empty() || closed_) return;
  if (reader_gone_) return;  // nobody will read it
  size_ += data.size();
  chunks_.push_back(std::move(data));
  changed();
}

void Pipe::close(std::optional<std::string> error) {
  if (closed_) return;
  closed_ = true;
  error_ = std::move(error);
  changed();
}

size_t Pipe::read(uint8_t* out, size_t max) {
  size_t done = 0;
  while (done < max && !chunks_.empty()) {
    std::string& front = chunks_.front();
    size_t n = std::min(max - done, front.size() - head_offset_);
    std::memcpy(out + done, front.data() + head_offset_, n);
    done += n;
    head_offset_ += n;
    if (head_offset_ == front.size()) {
      chunks_.pop_front();
      head_offset_ = 0;
    }
  }
  size_ -= done;
  if (done) changed();
  return done;
}

std::string Pipe::take() {
  std::string all;
  if (chunks_.size() == 1 && head_offset_ == 0) {
    all = std::move(chunks_.front());
    chunks_.clear();
  } else {
    all.reserve(size_);
    for (size_t i = 0; i < chunks_.size(); ++i)
      all.append(chunks_[i], i == 0 ? head_offset_ : 0, std::string::npos);
    chunks_.clear();
  }
  head_offset_ = 0;
  bool had = size_ != 0;
  size_ = 0;
  if (had) changed();
  return all;
}

void Pipe::drop_reader() {
  if (reader_gone_) return;
  reader_gone_ = true;
  chunks_.clear();
  head_offset_ = 0;
  size_ = 0;
  changed();
}

int Pipe::readable_fd() {
  if (!readable_) {
    readable_ = std::make_unique<Event>();
    readable_->fd = sys::Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    readable_->set(size_ > 0 || closed_);
  }
  return readable_->fd.get();
}

int Pipe::writable_fd() {
  if (!writable_) {
    writable_ = std::make_unique<Event>();
    writable_->fd = sys::Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    writable_->set(space() > 0 || reader_gone_ || closed_);
  }
  return writable_->fd.get();
}

void Pipe::changed() {
  if (readable_) readable_->set(size_ > 0 || closed_);
  if (writable_) writable_->set(space() > 0 || reader_gone_ || closed_);
  if (on_change) on_change();
}

}  // namespace flotilla::wasi::http
