// The HTTP/1.1 client behind wasi:http/outgoing-handler: one request per connection, driven
// without blocking by whoever polls it (a pollable over it, future-incoming-response.get, or a
// guest reading the response body or writing the request body), so that a guest waiting for
// it waits through its wasi::Waiter like for any descriptor.
//
// Both bodies stream. The request goes out as the guest writes it (with the guest's
// content-length, else chunked, with the trailers the guest passes to outgoing-body.finish);
// the response is handed over as soon as its head has arrived, and its body goes into a
// bounded pipe: the connection is read only while the pipe has room. Upstream trailers end the
// pipe (future-trailers).
#pragma once
#include <flotilla/wasi/http.h>
#include <poll.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "p2.h"

namespace flotilla::wasi::http {

// "host", "host:port", "[v6]:port" -> (host without brackets, port or `default_port`).
std::optional<std::pair<std::string, uint16_t>> split_authority(const std::string& authority,
                                                                uint16_t default_port);

struct ClientRequest {
  std::string method, scheme, authority, path;
  std::string host;  // from the authority, checked against the policy
  uint16_t port = 80;
  std::vector<Header> headers;
  std::shared_ptr<Pipe> body;  // null: no body
  std::optional<uint64_t> connect_timeout_ns, first_byte_timeout_ns, between_bytes_timeout_ns;
};

struct ClientError {
  std::string code;     // an error-code case ("connection-refused", "internal-error", ...)
  std::string payload;  // for internal-error: the text
};

// The wasi:http error-code value of `e` (with the payload its case carries).
component::Val error_code_val(const ClientError& e);

struct ClientResult {
  std::optional<ClientError> error;
  uint16_t status = 0;
  std::vector<Header> headers;
  // The response body, streaming: whoever takes it gives it the driver (set_driver(driver()))
  // so that reading it moves the connection on. Nobody else keeps it.
  std::shared_ptr<Pipe> body;
};

struct ClientCallImpl;

// The future of one outgoing request: ready once the response head arrived or the call failed.
class ClientCall final : public p2::PollSource {
 public:
  // `buffer`: the capacity of the response body pipe, and of the request body pipe from now on.
  ClientCall(ClientRequest request, size_t buffer);
  ~ClientCall() override;
  bool ready() override;
  pollfd watch() override;
  std::optional<uint64_t> deadline_ns() override;
  // Valid once ready().
  ClientResult& result();
  // What moves the connection on (for the bodies' pipes); ready() once the connection is over.
  std::shared_ptr<p2::PollSource> driver() const { return driver_; }

 private:
  std::shared_ptr<ClientCallImpl> impl_;
  std::shared_ptr<p2::PollSource> driver_;
};

}  // namespace flotilla::wasi::http
