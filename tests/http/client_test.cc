// HTTP client test of `flotilla serve` with Boost.Beast: starts the server as a child process
// on app-c.wasm (tests/http/c/app.c) and talks HTTP/1.1 to it.
//   flotilla-http-client-test FLOTILLA COMPONENT [gtest flags]
// Exit status 77 (ctest: skipped) only when `FLOTILLA serve --help` fails or shows no serve
// usage. HTTP_TEST_SERVER=jco JCO=.../node_modules/.bin/jco runs against `jco serve` instead
// (to debug this test); the flotilla-only cases are then skipped.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <utility>  // before Boost: asio 1.74 uses std::exchange without it
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string g_flotilla, g_component, g_jco;
bool g_jco_mode = false;

uint16_t FreePort() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

// A `flotilla serve` (or `jco serve`) child process.
class Server {
 public:
  explicit Server(std::vector<std::string> flags = {}) {
    port_ = FreePort();
    int out[2];
    if (pipe(out) != 0) abort();
    std::vector<std::string> args;
    if (g_jco_mode) {
      args = {g_jco, "serve", "--host", "127.0.0.1", "--port", std::to_string(port_), g_component};
    } else {
      args = {g_flotilla, "serve", "--addr", "127.0.0.1:" + std::to_string(port_)};
      args.insert(args.end(), flags.begin(), flags.end());
      args.push_back(g_component);
    }
    pid_ = fork();
    if (pid_ == 0) {
      if (g_jco_mode) setsid();
      dup2(out[1], 1);
      close(out[0]);
      close(out[1]);
      int devnull = open("/dev/null", O_RDONLY);
      dup2(devnull, 0);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    out_ = out[0];
    ready_ = WaitReady();
  }
  ~Server() {
    if (pid_ > 0) {
      kill(g_jco_mode ? -pid_ : pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) close(out_);
  }
  bool ready() const { return ready_; }
  uint16_t port() const { return port_; }
  const std::string& output() const { return output_; }

  // SIGTERM; the exit status (-1 when it did not exit within 30 s, 128+N for signal N).
  int Stop() {
    kill(g_jco_mode ? -pid_ : pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 300; i++) {
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return -1;
  }

 private:
  // Waits up to 120 s (the first start compiles the component) for http://127.0.0.1:PORT/
  // on the child's stdout (jco serve: for a successful connect).
  bool WaitReady() {
    std::string want = "http://127.0.0.1:" + std::to_string(port_) + "/";
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
      if (g_jco_mode) {
        try {
          asio::io_context io;
          tcp::socket s(io);
          s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
          return true;
        } catch (...) {
          std::this_thread::sleep_for(std::chrono::milliseconds(300));
          continue;
        }
      }
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, 500) > 0) {
        char buf[4096];
        ssize_t n = read(out_, buf, sizeof buf);
        if (n <= 0) return false;  // the child closed stdout: it died
        output_.append(buf, static_cast<size_t>(n));
        if (output_.find(want) != std::string::npos) return true;
      }
    }
    return false;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  uint16_t port_ = 0;
  bool ready_ = false;
  std::string output_;
};

tcp::socket Connect(asio::io_context& io, uint16_t port) {
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  return s;
}

http::response<http::string_body> Get(uint16_t port, const std::string& target) {
  asio::io_context io;
  auto s = Connect(io, port);
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  http::write(s, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res);
  return res;
}

// Sends raw bytes, half-closes, returns the status code of the answer (0: no answer).
unsigned RawStatus(uint16_t port, const std::string& bytes) {
  asio::io_context io;
  auto s = Connect(io, port);
  asio::write(s, asio::buffer(bytes));
  s.shutdown(tcp::socket::shutdown_send);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> p;
  beast::error_code ec;
  http::read_header(s, buf, p, ec);
  if (ec) return 0;
  return p.get().result_int();
}

class ServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new Server(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(server_->ready()) << "server did not start"; }
  static Server* server_;
};
Server* ServeTest::server_ = nullptr;

TEST_F(ServeTest, KeepAliveGets) {
  asio::io_context io;
  auto s = Connect(io, server_->port());
  beast::flat_buffer buf;
  for (int i = 0; i < 200; i++) {
    http::request<http::empty_body> req{http::verb::get, "/?i=" + std::to_string(i), 11};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(true);
    http::write(s, req);
    http::response<http::string_body> res;
    http::read(s, buf, res);
    ASSERT_EQ(res.result_int(), 200u) << "request " << i;
    ASSERT_EQ(res.body(), "hello") << "request " << i;
    ASSERT_TRUE(res.keep_alive()) << "request " << i;
  }
}

TEST_F(ServeTest, ConcurrentConnections) {
  constexpr int kConns = 200;
  std::atomic<int> ok{0};
  std::vector<std::string> errors(kConns);
  std::vector<std::thread> threads;
  for (int i = 0; i < kConns; i++) {
    threads.emplace_back([&, i] {
      try {
        auto res = Get(server_->port(), "/?c=" + std::to_string(i));
        if (res.result_int() == 200 && res.body() == "hello") {
          ok++;
        } else {
          errors[i] = std::to_string(res.result_int()) + " " + res.body();
        }
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  std::string first;
  for (auto& e : errors)
    if (!e.empty() && first.empty()) first = e;
  EXPECT_EQ(ok.load(), kConns) << "first failure: " << first;
}

// 10 MB sent as a chunked body in 64 KiB pieces by one thread while another reads the echo:
// the answer equals the body, and part of it arrives before the upload ends (the echo streams).
TEST_F(ServeTest, ChunkedEcho10MB) {
  constexpr size_t kSize = 10 << 20, kPiece = 64 << 10;
  std::string body(kSize, '\0');
  std::mt19937_64 rng(42);
  for (size_t i = 0; i < kSize; i += 8) {
    uint64_t v = rng();
    memcpy(&body[i], &v, 8);
  }
  asio::io_context io;
  auto s = Connect(io, server_->port());
  std::atomic<size_t> received{0};
  std::string got;
  std::string read_error;
  unsigned status = 0;
  std::thread reader([&] {
    try {
      beast::flat_buffer buf;
      http::response_parser<http::string_body> p;
      p.body_limit(64 << 20);
      http::read_header(s, buf, p);
      status = p.get().result_int();
      while (!p.is_done()) {
        http::read_some(s, buf, p);
        received = p.get().body().size();
      }
      got = p.release().body();
    } catch (const std::exception& e) {
      read_error = e.what();
    }
  });
  std::string head = "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  asio::write(s, asio::buffer(head));
  for (size_t off = 0; off < kSize; off += kPiece) {
    char size_line[32];
    snprintf(size_line, sizeof size_line, "%zx\r\n", kPiece);
    std::vector<asio::const_buffer> bufs{asio::buffer(size_line, strlen(size_line)),
                                         asio::buffer(body.data() + off, kPiece),
                                         asio::buffer("\r\n", 2)};
    asio::write(s, bufs);
  }
  size_t before_end = received.load();
  asio::write(s, asio::buffer(std::string("0\r\n\r\n")));
  reader.join();
  ASSERT_EQ(read_error, "");
  EXPECT_EQ(status, 200u);
  EXPECT_EQ(got.size(), kSize);
  EXPECT_TRUE(got == body) << "echoed body differs";
  EXPECT_GT(before_end, 0u) << "nothing echoed before the upload ended: the body was buffered";
}

TEST_F(ServeTest, MalformedRequestIs400) {
  EXPECT_EQ(RawStatus(server_->port(), "GARBAGE\r\n\r\n"), 400u);
  EXPECT_EQ(RawStatus(server_->port(), "GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n"), 400u);
  EXPECT_EQ(
      RawStatus(server_->port(), "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
      400u);
  auto res = Get(server_->port(), "/");
  EXPECT_EQ(res.result_int(), 200u);
}

TEST_F(ServeTest, ClientClosesMidBody) {
  {
    asio::io_context io;
    auto s = Connect(io, server_->port());
    std::string req = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" +
                      std::string(1000, 'a');
    asio::write(s, asio::buffer(req));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    s.close();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto res = Get(server_->port(), "/");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), "hello");
}

// Its own server: --max-body 1024; a 4096-byte body gets 413, a 1000-byte one is echoed, and
// SIGTERM ends the server with status 0.
TEST(ServeLimits, MaxBodyIs413AndCleanExit) {
  if (g_jco_mode) GTEST_SKIP() << "flotilla only (--max-body)";
  Server server({"--max-body", "1024"});
  ASSERT_TRUE(server.ready()) << "server did not start: " << server.output();
  asio::io_context io;
  {
    auto s = Connect(io, server.port());
    http::request<http::string_body> req{http::verb::post, "/echo", 11};
    req.set(http::field::host, "127.0.0.1");
    req.body() = std::string(4096, 'x');
    req.prepare_payload();
    beast::error_code ec;
    http::write(s, req, ec);  // the server may answer and close before reading it all
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(s, buf, res, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(res.result_int(), 413u);
  }
  {
    auto s = Connect(io, server.port());
    http::request<http::string_body> req{http::verb::post, "/echo", 11};
    req.set(http::field::host, "127.0.0.1");
    req.body() = std::string(1000, 'y');
    req.prepare_payload();
    http::write(s, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(s, buf, res);
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.body(), std::string(1000, 'y'));
  }
  EXPECT_EQ(server.Stop(), 0);
}

TEST(ServeLimits, SigtermExitsZero) {
  Server server;
  ASSERT_TRUE(server.ready()) << "server did not start: " << server.output();
  EXPECT_EQ(Get(server.port(), "/").result_int(), 200u);
  int rc = server.Stop();
  if (!g_jco_mode) {
    EXPECT_EQ(rc, 0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  signal(SIGPIPE, SIG_IGN);
  if (argc < 3) {
    fprintf(stderr, "usage: %s FLOTILLA COMPONENT [gtest flags]\n", argv[0]);
    return 2;
  }
  g_flotilla = argv[1];
  g_component = argv[2];
  const char* mode = getenv("HTTP_TEST_SERVER");
  g_jco_mode = mode && std::string(mode) == "jco";
  if (g_jco_mode) {
    const char* jco = getenv("JCO");
    if (!jco) {
      fprintf(stderr, "HTTP_TEST_SERVER=jco needs JCO=path/to/node_modules/.bin/jco\n");
      return 2;
    }
    g_jco = jco;
  } else {
    std::string cmd = "'" + g_flotilla + "' serve --help 2>&1";
    FILE* f = popen(cmd.c_str(), "r");
    std::string help;
    char buf[512];
    while (f && fgets(buf, sizeof buf, f)) help += buf;
    int rc = f ? pclose(f) : -1;
    auto usage = help.find("Usage:");
    if (rc != 0 || usage == std::string::npos || help.find("serve", usage) == std::string::npos) {
      printf("SKIP: `%s serve --help` fails or shows no serve usage\n", g_flotilla.c_str());
      return 77;
    }
  }
  return RUN_ALL_TESTS();
}
