// The HTTP/1.1 client behind wasi:http/outgoing-handler: one request per connection, driven
// without blocking by whoever polls it (a pollable over it, or future-incoming-response.get),
// so that a guest waiting for it waits through its wasi::Waiter like for any descriptor.
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
  std::optional<uint64_t> connect_timeout_ns, first_byte_timeout_ns;
};

struct ClientError {
  std::string code;     // an error-code case ("connection-refused", "internal-error", ...)
  std::string payload;  // for internal-error: the text
};

struct ClientResult {
  std::optional<ClientError> error;
  uint16_t status = 0;
  std::vector<Header> headers;
  std::shared_ptr<Pipe> body;
};

struct ClientCallImpl;

class ClientCall final : public p2::PollSource {
 public:
  ClientCall(ClientRequest request, size_t max_body);
  ~ClientCall() override;
  bool ready() override;
  pollfd watch() override;
  std::optional<uint64_t> deadline_ns() override;
  // Valid once ready().
  ClientResult& result();

 private:
  std::unique_ptr<ClientCallImpl> impl_;
};

}  // namespace flotilla::wasi::http
