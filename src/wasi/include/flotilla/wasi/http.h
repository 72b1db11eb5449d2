// wasi:http for components: the host side of wasi:http/types, the incoming handler a server
// calls for each request, and outgoing-handler (the guest's own HTTP client), denied unless the
// policy allows the destination.
//
// The HTTP connection itself belongs to the caller (src/host's server): it hands a guest an
// Exchange (the request, and where the response goes) and moves bytes through Pipes. A guest
// and the connection serving it run on the same thread (the guest on a fiber of the event
// loop that runs the connection), so Pipes are not synchronised; a guest that must wait for
// bytes or room waits through its wasi::Waiter on the pipe's event descriptors.
//
// Errors crossing this API are engine::Result values; errors a guest sees are wasi:http
// error-codes or stream errors.
#pragma once
#include <flotilla/wasi/wasi.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace flotilla::component {
class Func;
}

namespace flotilla::wasi::p2 {
class PollSource;
}

namespace flotilla::wasi::http {

struct Header {
  std::string name;
  std::string value;
};

// A one-way byte stream (a request or response body) with a soft capacity: the writer is told
// how much room is left, the reader what has arrived. Single-threaded.
class Pipe {
 public:
  explicit Pipe(size_t capacity = 1 << 20);
  void set_capacity(size_t capacity);
  ~Pipe();
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;

  // ---- writer
  // Bytes that may be pushed before the pipe is over capacity (0 once the reader is gone).
  size_t space() const;
  void push(const uint8_t* data, size_t n);
  void push(std::string data);
  // End of stream; `error` set: the stream broke (the reader gets an error after the data).
  void close(std::optional<std::string> error = std::nullopt);
  bool closed() const { return closed_; }
  // Trailer fields that go with the end of the stream (set before close(); for chunked
  // bodies only: a body with a length, or an HTTP/1.0 one, drops them).
  void set_trailers(std::vector<Header> trailers) { trailers_ = std::move(trailers); }
  const std::optional<std::vector<Header>>& trailers() const { return trailers_; }
  // The reader will read no more (it was dropped or the connection went away).
  bool reader_gone() const { return reader_gone_; }

  // ---- reader
  size_t size() const { return size_; }
  // Moves up to `max` bytes out; 0 when nothing is buffered.
  size_t read(uint8_t* out, size_t max);
  // Everything buffered, as one string.
  std::string take();
  // True once everything was read and the writer closed it.
  bool at_end() const { return closed_ && size_ == 0; }
  const std::optional<std::string>& error() const { return error_; }
  void drop_reader();

  // ---- waiting
  // Called (on the pipe's thread) after data, the end or the reader's departure: whoever
  // serves the other side wakes up.
  std::function<void()> on_change;
  // Event descriptors for guests waiting through a wasi::Waiter (made on first use): the
  // first is readable while there is something to read or the end, the second while there is
  // room to write or the reader is gone.
  int readable_fd();
  int writable_fd();
  // When the other end is driven by whoever waits on the pipe (the outgoing-handler client,
  // which runs on the guest's own fiber): its PollSource makes progress when asked (ready())
  // and says what to wait for (watch(), deadline_ns()). Readers and writers of such a pipe
  // drive it instead of waiting for the pipe's events alone. Owned (a response body keeps
  // its connection going) or not (a request body does not keep its call alive).
  void set_driver(std::shared_ptr<p2::PollSource> driver) { driver_ = std::move(driver); }
  void set_weak_driver(std::weak_ptr<p2::PollSource> driver) { weak_driver_ = std::move(driver); }
  std::shared_ptr<p2::PollSource> driver() const { return driver_ ? driver_ : weak_driver_.lock(); }

 private:
  void changed();
  struct Event;
  size_t capacity_;
  std::deque<std::string> chunks_;
  size_t head_offset_ = 0;  // bytes of chunks_.front() already read
  size_t size_ = 0;
  bool closed_ = false;
  bool reader_gone_ = false;
  std::optional<std::string> error_;
  std::optional<std::vector<Header>> trailers_;
  std::unique_ptr<Event> readable_, writable_;
  std::shared_ptr<p2::PollSource> driver_;
  std::weak_ptr<p2::PollSource> weak_driver_;
};

struct Request {
  std::string method;           // as sent ("GET", "PURGE")
  std::string scheme = "http";  // "http" or "https"
  std::string authority;        // the Host header
  std::string path_with_query;  // origin-form target ("/a?b=c")
  std::vector<Header> headers;
  std::shared_ptr<Pipe> body;  // never null; closed at once for a request without a body
};

struct Response {
  uint16_t status = 200;
  std::vector<Header> headers;
  std::shared_ptr<Pipe> body;  // never null; the guest writes it
};

// One request handed to a guest, and what the guest answered. Shared by the server and the
// guest's state.
struct Exchange {
  Request request;
  // Set when the guest called response-outparam.set with a response...
  std::optional<Response> response;
  // ...or with an error-code (its WAVE-ish text, for the log and the 500's body).
  std::optional<std::string> error;
  // Called after `response` or `error` is set.
  std::function<void()> on_response;
};

struct Policy {
  // Destinations a guest may send outgoing requests to: "host" (any port) or "host:port".
  // Empty: outgoing HTTP is denied (error-code HTTP-request-denied).
  std::vector<std::string> allow;
  // The most bytes of an outgoing request body a guest may write before it hands the request
  // to outgoing-handler.handle (after that, bodies stream both ways through a bounded buffer,
  // `stream_buffer`, and the upstream is read only while there is room in it).
  size_t max_response_body = 64u << 20;
  size_t stream_buffer = 64u << 10;
};

// True if `policy` lets a guest send a request to `host` (no brackets for IPv6) and `port`.
bool allowed(const Policy& policy, const std::string& host, uint16_t port);

struct HostImpl;

// wasi:http defined in one component linker, shared by the guests of many stores.
class Host {
 public:
  // Defines the WASI 0.2 interfaces (store-bound, as wasi::add_to_linker(linker)) and
  // wasi:http/types and wasi:http/outgoing-handler (all 0.2.x versions) in `linker`.
  static engine::Result<std::shared_ptr<Host>> define(component::Linker& linker, Policy policy);
  ~Host();

  // Runs `handler` (the guest's wasi:http/incoming-handler handle export) in `store` (bound
  // with wasi::bind) for `exchange`. Returns when the handler returns (its response may still
  // be streaming to the client) or with the trap that ended it.
  engine::Result<void> handle(engine::Store& store, const component::Func& handler,
                              const std::shared_ptr<Exchange>& exchange) const;

  // Breaks every body stream of the guest in `store` (reads fail, writes find the stream
  // closed), so that a guest waiting on one wakes up: for a request that timed out or whose
  // client went away. Call it while the guest is suspended, on its thread.
  void abort(engine::Store& store, const std::string& why) const;

  explicit Host(std::unique_ptr<HostImpl> impl);

 private:
  std::unique_ptr<HostImpl> impl_;
};

// The reason phrase of a status code ("OK", "Not Found"; "" if unknown).
const char* reason_phrase(unsigned status);

// Header names a guest may not set (hop-by-hop fields the server owns), lower case.
bool forbidden_header(std::string_view lower_name);

}  // namespace flotilla::wasi::http
