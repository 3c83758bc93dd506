// The server over real HTTP on loopback: keep-alive, pipelining, limits, timeouts, overload, concurrency,
// graceful shutdown, and the neardup-server program itself.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <fstream>
#include <latch>
#include <mutex>
#include <regex>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <tbb/info.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "neardup/server/handler.hpp"
#include "neardup/server/server.hpp"
#include "support/image_bytes.hpp"
#include "support/sample_photos.hpp"
#include "support/temp_dir.hpp"

extern char** environ;

using namespace neardup;
using namespace neardup::server;
using json = nlohmann::json;
namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

namespace {

const std::string kToken = "test-token-0123456789";

std::string str(const std::vector<std::uint8_t>& b) { return {b.begin(), b.end()}; }
std::string photo(const std::string& name) { return str(test::read_bytes(test::sample_photo(name))); }

Request make(http::verb method, const std::string& target, std::string body = {}, const std::string& token = "") {
    Request req(method, target, 11);
    req.set(http::field::host, "127.0.0.1");
    if (method == http::verb::post || method == http::verb::put) req.set(http::field::content_type, "image/jpeg");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    req.body() = std::move(body);
    req.prepare_payload();
    return req;
}

// Writes raw bytes: what a client may send that Beast's serializer would not.
void send_raw(tcp::socket& s, const std::string& bytes) { net::write(s, net::buffer(bytes)); }

// Waits for `s` to have something to read (or to be closed) for at most `wait`.
bool readable_within(tcp::socket& s, std::chrono::milliseconds wait) {
    pollfd p{s.native_handle(), POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(wait.count())) == 1;
}

// A response that must come within `wait` (far less than the server's timeouts, so that an answer the
// server only gives on a timeout fails the test).
Response read_response(tcp::socket& s, std::chrono::milliseconds wait = std::chrono::milliseconds(20'000)) {
    if (!readable_within(s, wait)) throw std::runtime_error("no response within " + std::to_string(wait.count()) + " ms");
    beast::flat_buffer buffer;
    Response res;
    http::read(s, buffer, res);
    return res;
}

// A server on an ephemeral loopback port, serving a fresh index, run on its own thread.
struct Running {
    test::TempDir dir;
    store::Store store{dir.path()};
    Metrics metrics;
    Handler handler;
    Server server;
    std::thread thread;

    explicit Running(ServerOptions options = {}, HandlerOptions handler_options = token_options())
        : handler(handler_options, metrics), server(handler, metrics, with_free_port(options)) {
        handler.attach(store);
        thread = std::thread([this] { server.run(); });
    }
    ~Running() {
        server.stop();
        if (thread.joinable()) thread.join();
    }
    static ServerOptions with_free_port(ServerOptions o) {
        o.port = 0;
        return o;
    }
    static HandlerOptions token_options() {
        HandlerOptions o;
        o.token = kToken;
        return o;
    }

    static net::io_context& client_ioc() {
        static net::io_context ioc;
        return ioc;
    }
    // A connection from `from`: any address of the loopback network (127.0.0.0/8) is a client of its own.
    tcp::socket socket(const char* from = "127.0.0.1") const {
        tcp::socket s(client_ioc());
        s.open(tcp::v4());
        s.bind(tcp::endpoint(net::ip::make_address(from), 0));
        s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server.port()));
        return s;
    }
    // A connection in the middle of a request's headers: not idle.
    tcp::socket busy_socket() const {
        const std::size_t idle_before = server.state().idle_connections;
        tcp::socket s = socket();
        REQUIRE(wait_until([&](const ServerState& st) { return st.idle_connections == idle_before + 1; }));
        send_raw(s, "GET /healthz HTTP/1.1\r\n");
        REQUIRE(wait_until([&](const ServerState& st) { return st.idle_connections == idle_before; }));
        return s;
    }
    // Waits (without polling) for the server to reach a state; false after 10 s.
    bool wait_until(const std::function<bool(const ServerState&)>& done) const {
        return server.wait_until(done, std::chrono::milliseconds(10'000));
    }
    Response send(const Request& req) const {
        tcp::socket s = socket();
        http::write(s, req);
        const Response res = read_response(s);
        return res;
    }
};

json body_of(const Response& res) { return json::parse(res.body()); }


// Reads (and drops) until the peer closes; true if it closed within `wait`.
bool closed_by_peer(tcp::socket& s, std::chrono::milliseconds wait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    char buf[4096];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || !readable_within(s, left)) return false;
        beast::error_code ec;
        s.read_some(net::buffer(buf), ec);  // readable: does not block
        if (ec) return true;                // end of stream or reset
    }
}

// The neardup-server program on a port of its choice (--listen 127.0.0.1:0), its log read as it is written.
class Program {
public:
    explicit Program(std::vector<std::string> args) {
        args.insert(args.begin(), NEARDUP_SERVER_BINARY);
        args.insert(args.end(), {"--listen", "127.0.0.1:0"});
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1);  // spdlog writes to stdout
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
        posix_spawn_file_actions_addclose(&actions, fds[0]);
        REQUIRE(posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) == 0);
        posix_spawn_file_actions_destroy(&actions);
        ::close(fds[1]);
        reader_ = std::thread([this, fd = fds[0]] {
            char buf[4096];
            for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) {
                std::lock_guard lock(mutex_);
                log_.append(buf, static_cast<std::size_t>(n));
                grew_.notify_all();
            }
            ::close(fd);
            std::lock_guard lock(mutex_);
            ended_ = true;
            grew_.notify_all();
        });
        std::smatch m;
        const std::string listening = wait_for_log(std::regex(R"(listening on http://127\.0\.0\.1:(\d+))"), m) ? m[1].str() : "0";
        port_ = static_cast<unsigned short>(std::stoi(listening));
    }
    ~Program() {
        if (running()) {
            kill(pid_, SIGKILL);
            wait();
        }
        reader_.join();
    }
    Program(const Program&) = delete;
    Program& operator=(const Program&) = delete;

    unsigned short port() const { return port_; }
    // Blocks until the log matches `pattern` (true), or the program closed its output or 60 s passed (false).
    bool wait_for_log(const std::regex& pattern, std::smatch& match) {
        std::unique_lock lock(mutex_);
        const bool found = grew_.wait_for(lock, std::chrono::seconds(60), [&] {
            copy_ = log_;
            return std::regex_search(copy_, match, pattern) || ended_;
        });
        return found && !match.empty();
    }
    bool wait_for_log(const std::string& text) {
        std::unique_lock lock(mutex_);
        grew_.wait_for(lock, std::chrono::seconds(60), [&] { return log_.find(text) != std::string::npos || ended_; });
        return log_.find(text) != std::string::npos;
    }
    std::string log() {
        std::lock_guard lock(mutex_);
        return log_;
    }
    bool running() {
        if (reaped_) return false;
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == 0) return true;
        reaped_ = true;
        exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        return false;
    }
    // The exit status after SIGTERM, or -1 when it did not exit normally.
    int terminate() {
        if (running()) kill(pid_, SIGTERM);
        return wait();
    }
    Response send(const Request& req) const {
        tcp::socket s(Running::client_ioc());
        s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
        http::write(s, req);
        return read_response(s);
    }

private:
    int wait() {
        if (!reaped_) {
            int status = 0;
            waitpid(pid_, &status, 0);
            reaped_ = true;
            exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        return exit_status_;
    }
    pid_t pid_ = 0;
    unsigned short port_ = 0;
    bool reaped_ = false;
    int exit_status_ = -1;
    std::thread reader_;
    std::mutex mutex_;
    std::condition_variable grew_;
    std::string log_, copy_;
    bool ended_ = false;
};

}  // namespace

TEST_CASE("keep-alive connections answer pipelined requests in order", "[server][http]") {
    Running r;
    REQUIRE(r.store.add("dome", test::read_bytes(test::sample_photo("dome.jpg"))).ok());
    tcp::socket s = r.socket();
    // Three requests written back to back before any answer is read.
    http::write(s, make(http::verb::get, "/healthz"));
    http::write(s, make(http::verb::post, "/v1/search?top=1", photo("dome.jpg")));
    http::write(s, make(http::verb::get, "/nope"));
    beast::flat_buffer buffer;
    Response a, b, c;
    http::read(s, buffer, a);
    http::read(s, buffer, b);
    http::read(s, buffer, c);
    CHECK(a.result() == http::status::ok);
    CHECK(body_of(a)["status"] == "ok");
    REQUIRE(b.result() == http::status::ok);
    CHECK(body_of(b)["matches"][0]["key"] == "dome");
    CHECK(c.result() == http::status::not_found);
    CHECK(c.keep_alive());
    // The connection still serves.
    http::write(s, make(http::verb::get, "/readyz"));
    Response d;
    http::read(s, buffer, d);
    CHECK(d.result() == http::status::ok);
}

TEST_CASE("bodies over the limit are refused while they are read", "[server][http][bad_input]") {
    HandlerOptions ho = Running::token_options();
    ho.body_limit = 1000;  // the server's parser enforces the handler's limit
    Running r({}, ho);
    SECTION("declared in Content-Length: refused on the headers, the connection closed") {
        tcp::socket s = r.socket();
        Request req = make(http::verb::post, "/v1/search", std::string(5000, 'x'));
        http::request_serializer<http::string_body> sr(req);
        http::write_header(s, sr);  // the body is never sent
        const Response res = read_response(s);
        CHECK(res.result() == http::status::payload_too_large);
        CHECK(body_of(res)["error"]["code"] == "payload_too_large");
        CHECK(closed_by_peer(s, std::chrono::milliseconds(2000)));
    }
    SECTION("chunked, without a length: refused when the limit is passed") {
        tcp::socket s = r.socket();
        Request req = make(http::verb::post, "/v1/search", std::string(5000, 'x'));
        req.chunked(true);
        http::write(s, req);
        const Response res = read_response(s);
        CHECK(res.result() == http::status::payload_too_large);
        CHECK_FALSE(res.keep_alive());
    }
    SECTION("Expect: 100-continue over the limit is refused before the body") {
        tcp::socket s = r.socket();
        Request req = make(http::verb::post, "/v1/search", std::string(5000, 'x'));
        req.set(http::field::expect, "100-continue");
        http::request_serializer<http::string_body> sr(req);
        http::write_header(s, sr);
        const Response res = read_response(s);
        CHECK(res.result() == http::status::payload_too_large);
    }
    CHECK(r.send(make(http::verb::get, "/healthz")).result() == http::status::ok);
}

TEST_CASE("Expect: 100-continue gets its interim answer, then the final one", "[server][http]") {
    Running r;
    REQUIRE(r.store.add("dome", test::read_bytes(test::sample_photo("dome.jpg"))).ok());
    tcp::socket s = r.socket();
    Request req = make(http::verb::post, "/v1/search?top=1", photo("dome.jpg"));
    req.set(http::field::expect, "100-continue");
    http::request_serializer<http::string_body> sr(req);
    http::write_header(s, sr);
    beast::flat_buffer buffer;
    http::response<http::empty_body> interim;
    http::read(s, buffer, interim);
    CHECK(interim.result() == http::status::continue_);
    http::write(s, sr);  // the body
    Response res;
    http::read(s, buffer, res);
    REQUIRE(res.result() == http::status::ok);
    CHECK(body_of(res)["matches"][0]["key"] == "dome");
}

TEST_CASE("slow clients are answered 408 and idle ones closed", "[server][http][timeout]") {
    ServerOptions so;
    so.header_timeout = std::chrono::milliseconds(300);
    so.body_timeout = std::chrono::milliseconds(300);
    Running r(so);
    SECTION("headers that never finish") {
        tcp::socket s = r.socket();
        net::write(s, net::buffer(std::string("POST /v1/search HTTP/1.1\r\nHost: x\r\n")));
        const Response res = read_response(s);
        CHECK(res.result() == http::status::request_timeout);
        CHECK(body_of(res)["error"]["code"] == "request_timeout");
        CHECK(r.metrics.requests("unmatched", "?", 408) == 1);  // the route is unknown without the headers
    }
    SECTION("a body that stops short") {
        tcp::socket s = r.socket();
        net::write(s, net::buffer(std::string("POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 1000\r\n\r\n0123456789")));
        const Response res = read_response(s);
        CHECK(res.result() == http::status::request_timeout);
        CHECK(r.metrics.requests("/v1/search", "POST", 408) == 1);
    }
    SECTION("an idle connection is closed without an answer") {
        tcp::socket s = r.socket();
        CHECK(closed_by_peer(s, std::chrono::milliseconds(3000)));
    }
    CHECK(r.send(make(http::verb::get, "/healthz")).result() == http::status::ok);
}

TEST_CASE("connections past the limit are closed on accept", "[server][http][overload]") {
    ServerOptions so;
    so.max_connections = 2;
    Running r(so);
    // Both in the middle of a request: neither is idle, so none can be closed to make room.
    tcp::socket a = r.busy_socket(), b = r.busy_socket();
    tcp::socket c = r.socket();
    CHECK(closed_by_peer(c, std::chrono::milliseconds(5000)));
    CHECK(r.server.state().refused == 1);
    CHECK(r.server.state().shed == 0);
    // Once one closes, a new connection is served.
    send_raw(a, "Host: x\r\nConnection: close\r\n\r\n");
    CHECK(read_response(a).result() == http::status::ok);
    a.close();
    REQUIRE(r.wait_until([](const ServerState& st) { return st.connections == 1; }));
    CHECK(r.send(make(http::verb::get, "/healthz")).result() == http::status::ok);
    send_raw(b, "Host: x\r\n\r\n");
    CHECK(read_response(b).result() == http::status::ok);
}

TEST_CASE("one client address holds at most max_connections_per_client connections", "[server][http][overload]") {
    ServerOptions so;
    so.max_connections_per_client = 2;
    Running r(so);
    tcp::socket a = r.socket("127.0.0.1"), b = r.socket("127.0.0.1");
    REQUIRE(r.wait_until([](const ServerState& st) { return st.connections == 2; }));
    tcp::socket c = r.socket("127.0.0.1");
    CHECK(closed_by_peer(c, std::chrono::milliseconds(5000)));
    CHECK(r.server.state().refused == 1);
    // Another client is let in, and the first client's connections still serve.
    tcp::socket d = r.socket("127.0.0.2");
    http::write(d, make(http::verb::get, "/healthz"));
    CHECK(read_response(d).result() == http::status::ok);
    http::write(a, make(http::verb::get, "/healthz"));
    CHECK(read_response(a).result() == http::status::ok);
    // Once one of its connections closes, the client may open another.
    b.close();
    REQUIRE(r.wait_until([](const ServerState& st) { return st.closed == 1; }));
    tcp::socket e = r.socket("127.0.0.1");
    http::write(e, make(http::verb::get, "/healthz"));
    CHECK(read_response(e).result() == http::status::ok);
    CHECK(r.server.state().refused == 1);
}

TEST_CASE("near max_connections, a new connection closes the oldest idle one", "[server][http][overload]") {
    ServerOptions so;
    so.max_connections = 10;  // idle connections are closed for room from 9 on
    Running r(so);
    // One connection in the middle of a request, then seven idle ones, opened one after the other so that
    // their order is known.
    tcp::socket busy = r.busy_socket();
    std::vector<tcp::socket> idle;
    for (std::size_t i = 1; i <= 7; ++i) {
        idle.push_back(r.socket());
        REQUIRE(r.wait_until([i](const ServerState& st) { return st.idle_connections == i; }));
    }
    // The ninth: the oldest idle connection is closed, not the busy one, not the newcomer.
    tcp::socket newcomer = r.socket();
    CHECK(closed_by_peer(idle[0], std::chrono::milliseconds(5000)));
    REQUIRE(r.wait_until([](const ServerState& st) { return st.shed == 1 && st.closed == 1; }));
    http::write(newcomer, make(http::verb::get, "/healthz"));
    CHECK(read_response(newcomer).result() == http::status::ok);
    send_raw(busy, "Host: x\r\n\r\n");
    CHECK(read_response(busy).result() == http::status::ok);
    http::write(idle[1], make(http::verb::get, "/healthz"));
    CHECK(read_response(idle[1]).result() == http::status::ok);
    CHECK(r.server.state().refused == 0);
}

TEST_CASE("idle connections from one client cannot keep new clients out", "[server][http][overload]") {
    ServerOptions so;
    so.max_connections = 10;
    so.max_connections_per_client = 100;  // the shedding alone, not the per-client cap
    Running r(so);
    // Three times the limit in idle connections, as a client that opens and forgets them would.
    std::vector<tcp::socket> idle;
    for (int i = 0; i < 30; ++i) idle.push_back(r.socket());
    REQUIRE(r.wait_until([](const ServerState& st) { return st.accepted + st.refused == 30 && st.connections < 10; }));
    // A new client gets in and is answered.
    tcp::socket s = r.socket("127.0.0.2");
    http::write(s, make(http::verb::get, "/healthz"));
    CHECK(read_response(s).result() == http::status::ok);
    CHECK(r.server.state().shed > 0);
}

TEST_CASE("malformed requests and bad uploads over the wire, and the server keeps serving", "[server][http][bad_input]") {
    Running r;
    const std::string jpeg = photo("dome.jpg");
    std::mt19937 rng(5);
    std::string random(20000, '\0');
    for (auto& c : random) c = static_cast<char>(rng());
    const std::vector<std::tuple<std::string, std::string, std::string, unsigned>> uploads = {
        {"zero bytes", "", "image/jpeg", 400},
        {"random bytes", random, "image/jpeg", 400},
        {"truncated JPEG", jpeg.substr(0, jpeg.size() / 3), "image/jpeg", 400},
        {"PNG header claiming 100k x 100k", str(test::png_header_claiming(100000, 100000)), "image/png", 422},
        {"wrong content type", jpeg, "application/json", 415},
    };
    for (const auto& [name, body, type, status] : uploads) {
        INFO(name);
        Request req = make(http::verb::post, "/v1/search", body);
        req.set(http::field::content_type, type);
        CHECK(r.send(req).result_int() == status);
        Request put = make(http::verb::put, "/v1/images/bad", body, kToken);
        put.set(http::field::content_type, type);
        CHECK(r.send(put).result_int() == status);
    }
    for (const std::string raw : {"GARBAGE\r\n\r\n", "GET /healthz HTTP/9.9\r\n\r\n", "GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n"}) {
        INFO(raw);
        tcp::socket s = r.socket();
        net::write(s, net::buffer(raw));
        const Response res = read_response(s);
        CHECK(res.result() == http::status::bad_request);
    }
    {
        tcp::socket s = r.socket();
        net::write(s, net::buffer("GET /healthz HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n"));
        const Response res = read_response(s);
        CHECK(res.result() == http::status::request_header_fields_too_large);
    }
    CHECK_FALSE(r.store.get("bad"));
    CHECK(r.send(make(http::verb::get, "/healthz")).result() == http::status::ok);
}

namespace {

struct Attack {
    std::string name, request;
    unsigned status;
    std::string code;
};

// Requests each of which once made neardup-server exit (an exception building the JSON of the answer), and
// their relatives: bytes that are not UTF-8, NUL, overlong and truncated escapes, long keys, control bytes.
std::vector<Attack> attacks() {
    const std::string auth = "Authorization: Bearer " + kToken + "\r\n";
    const std::string upload = "Content-Type: image/jpeg\r\nContent-Length: 3\r\n\r\nabc";
    auto get = [](const std::string& target) { return "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n"; };
    std::string long_key(10 * 1024, 'k');
    return {
        {"GET /%ff", get("/%ff"), 400, "bad_request"},
        {"GET /v1/images/%ff", get("/v1/images/%ff"), 400, "invalid_key"},
        {"POST /v1/search?top=%ff", "POST /v1/search?top=%ff HTTP/1.1\r\nHost: x\r\n" + upload, 400, "bad_request"},
        {"POST /v1/search?label=%ff", "POST /v1/search?label=%ff HTTP/1.1\r\nHost: x\r\n" + upload, 400, "bad_request"},
        {"GET /v1/stats?%ff", get("/v1/stats?%ff"), 400, "bad_request"},
        {"GET /%00", get("/%00"), 400, "bad_request"},
        {"GET /v1/stats%00", get("/v1/stats%00"), 400, "bad_request"},
        {"GET /v1/images/a%00b", get("/v1/images/a%00b"), 400, "invalid_key"},
        {"GET /v1/images/%C0%AF (overlong)", get("/v1/images/%C0%AF"), 400, "invalid_key"},
        {"GET /healthz%C0%AF (overlong)", get("/healthz%C0%AF"), 400, "bad_request"},
        {"GET /healthz% ('%' at the end)", get("/healthz%"), 400, "bad_request"},
        {"GET /v1/images/k%4 (truncated escape)", get("/v1/images/k%4"), 400, "bad_request"},
        {"GET /v1/search?top=%4 (truncated escape)", get("/v1/search?top=%4"), 400, "bad_request"},
        {"DELETE /v1/images/%ff", "DELETE /v1/images/%ff HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 400, "invalid_key"},
        {"PUT /v1/images/%ff", "PUT /v1/images/%ff HTTP/1.1\r\nHost: x\r\n" + auth + upload, 400, "invalid_key"},
        {"PUT a 10 KB key", "PUT /v1/images/" + long_key + " HTTP/1.1\r\nHost: x\r\n" + auth + upload, 400, "invalid_key"},
        {"GET a 10 KB key", get("/v1/images/" + long_key), 400, "invalid_key"},
        {"Content-Type with bytes that are not UTF-8",
         "PUT /v1/images/x HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Type: image\xff\xfe\r\nContent-Length: 3\r\n\r\nabc", 415,
         "unsupported_media_type"},
        {"Authorization with bytes that are not UTF-8",
         "DELETE /v1/images/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xc0\xaf\r\n\r\n", 403, "forbidden"},
        {"a header value with a control byte", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: a\x01" "b\r\n\r\n", 400, "bad_request"},
        {"a raw byte that is not UTF-8 in a key", get("/v1/images/\xff"), 400, "invalid_key"},
        {"a raw byte that is not UTF-8 in a path", get("/v1/stats\xff"), 400, "bad_request"},
    };
}

// Sends each attack on a connection of its own and checks the answer.
template <typename Connect>
void expect_attacks_answered(Connect connect) {
    for (const Attack& a : attacks()) {
        INFO(a.name);
        tcp::socket s = connect();
        send_raw(s, a.request);
        const Response res = read_response(s, std::chrono::milliseconds(10'000));
        CHECK(res.result_int() == a.status);
        REQUIRE(res[http::field::content_type] == "application/json");
        const json body = body_of(res);  // throws on bytes that are not UTF-8
        CHECK(body["error"]["code"] == a.code);
    }
}

}  // namespace

TEST_CASE("requests that once made the server exit are answered, and it keeps serving", "[server][http][bad_input]") {
    Running r;
    REQUIRE(r.store.add("dome", test::read_bytes(test::sample_photo("dome.jpg"))).ok());
    expect_attacks_answered([&] { return r.socket(); });
    const Response res = r.send(make(http::verb::post, "/v1/search?top=1", photo("dome.jpg")));
    REQUIRE(res.result() == http::status::ok);
    CHECK(body_of(res)["matches"][0]["key"] == "dome");
    CHECK(r.store.stats().active == 1);
    CHECK_FALSE(r.store.get("\xff"));
}

TEST_CASE("neardup-server answers the requests that once made it exit, and keeps serving", "[server][program][bad_input]") {
    test::TempDir dir;
    {
        store::Store store(dir / "db");
        REQUIRE(store.add("dome", test::read_bytes(test::sample_photo("dome.jpg"))).ok());
    }
    std::ofstream(dir / "token") << kToken << "\n";
    Program program({"--db", (dir / "db").string(), "--token-file", (dir / "token").string()});
    REQUIRE(program.wait_for_log("index ready"));
    expect_attacks_answered([&] {
        tcp::socket s(Running::client_ioc());
        s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), program.port()));
        return s;
    });
    CHECK(program.running());
    const Response res = program.send(make(http::verb::post, "/v1/search?top=1", photo("dome.jpg")));
    REQUIRE(res.result() == http::status::ok);
    CHECK(body_of(res)["matches"][0]["key"] == "dome");
    CHECK(program.terminate() == 0);
}

TEST_CASE("request bodies in memory stay within max_body_bytes_in_flight across connections", "[server][http][overload]") {
    ServerOptions so;
    so.max_body_bytes_in_flight = 1500;
    HandlerOptions ho = Running::token_options();
    ho.body_limit = 1000;
    Running r(so, ho);
    const std::string head = "POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n";
    // The first upload reserves its 1000 bytes on its headers, and holds them while its body trickles in.
    tcp::socket first = r.socket();
    send_raw(first, head + "Content-Length: 1000\r\n\r\n" + std::string(10, 'x'));
    REQUIRE(r.wait_until([](const ServerState& st) { return st.body_bytes_reserved == 1000; }));
    SECTION("a second one that does not fit is answered 503 at once, unread, and closed") {
        tcp::socket second = r.socket();
        send_raw(second, head + "Content-Length: 1000\r\n\r\n");
        const Response res = read_response(second, std::chrono::milliseconds(10'000));
        CHECK(res.result() == http::status::service_unavailable);
        CHECK(body_of(res)["error"]["code"] == "overloaded");
        CHECK(res[http::field::retry_after] == "1");
        CHECK_FALSE(res.keep_alive());
        CHECK(closed_by_peer(second, std::chrono::milliseconds(5000)));
        CHECK(r.metrics.requests("/v1/search", "POST", 503) == 1);
    }
    SECTION("a chunked one reserves the body limit, and does not fit either") {
        tcp::socket second = r.socket();
        send_raw(second, head + "Transfer-Encoding: chunked\r\n\r\n");
        CHECK(read_response(second, std::chrono::milliseconds(10'000)).result() == http::status::service_unavailable);
    }
    SECTION("a small one fits beside it: the budget counts bytes, not requests") {
        tcp::socket small = r.socket();
        send_raw(small, head + "Content-Length: 400\r\n\r\n" + std::string(400, 'x'));
        const Response res = read_response(small, std::chrono::milliseconds(10'000));
        CHECK(res.result() == http::status::bad_request);  // read and handled: not an image
        CHECK(body_of(res)["error"]["code"] == "unsupported_format");
    }
    // Once the first is answered its bytes are free, and an upload as large as it is read again.
    send_raw(first, std::string(990, 'x'));
    CHECK(body_of(read_response(first, std::chrono::milliseconds(10'000)))["error"]["code"] == "unsupported_format");
    REQUIRE(r.wait_until([](const ServerState& st) { return st.body_bytes_reserved == 0; }));
    tcp::socket again = r.socket();
    send_raw(again, head + "Content-Length: 1000\r\n\r\n" + std::string(1000, 'x'));
    CHECK(body_of(read_response(again, std::chrono::milliseconds(10'000)))["error"]["code"] == "unsupported_format");
    CHECK(r.wait_until([](const ServerState& st) { return st.body_bytes_reserved == 0; }));
    // The gauges tell the operator.
    const std::string metrics = r.send(make(http::verb::get, "/metrics")).body();
    CHECK(metrics.find("neardup_http_body_bytes_capacity 1500\n") != std::string::npos);
}

TEST_CASE("Expect: 100-continue refused on the headers is answered at once and closed", "[server][http][auth]") {
    ServerOptions so;
    so.body_timeout = std::chrono::milliseconds(60'000);  // an answer only after the body timeout fails the test
    Running r(so);
    const std::string head = "PUT /v1/images/x HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 5000\r\n"
                             "Expect: 100-continue\r\n";
    SECTION("no token: 401") {
        tcp::socket s = r.socket();
        send_raw(s, head + "\r\n");
        const Response res = read_response(s, std::chrono::milliseconds(10'000));  // the final answer, no 100 before it
        CHECK(res.result() == http::status::unauthorized);
        CHECK(res[http::field::www_authenticate] == "Bearer");
        CHECK_FALSE(res.keep_alive());
        CHECK(closed_by_peer(s, std::chrono::milliseconds(5000)));
    }
    SECTION("a wrong token: 403") {
        tcp::socket s = r.socket();
        send_raw(s, head + "Authorization: Bearer wrong-token-0123456789\r\n\r\n");
        const Response res = read_response(s, std::chrono::milliseconds(10'000));
        CHECK(res.result() == http::status::forbidden);
        CHECK(body_of(res)["error"]["code"] == "forbidden");
        CHECK_FALSE(res.keep_alive());
        CHECK(closed_by_peer(s, std::chrono::milliseconds(5000)));
    }
    CHECK(r.metrics.requests("/v1/images/{key}", "PUT", 408) == 0);
    CHECK_FALSE(r.store.get("x"));
}

TEST_CASE("a transfer coding other than chunked is answered 501 on the headers and closed", "[server][http][bad_input]") {
    Running r;
    tcp::socket s = r.socket();
    // A gzip-compressed chunked body: Beast would frame it as chunked and hand over compressed bytes.
    send_raw(s, "POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    const Response res = read_response(s, std::chrono::milliseconds(10'000));
    CHECK(res.result() == http::status::not_implemented);
    CHECK(body_of(res)["error"]["code"] == "not_implemented");
    CHECK_FALSE(res.keep_alive());
    CHECK(closed_by_peer(s, std::chrono::milliseconds(5000)));
    CHECK(r.send(make(http::verb::get, "/healthz")).result() == http::status::ok);
}

TEST_CASE("an exception the handler does not expect is answered 500, and the server keeps serving", "[server][http]") {
    Running r;
    // /metrics calls the gauges on the I/O thread; a failure there stands for any bug in a handler.
    SECTION("not a std::exception: the server's guard answers") {
        r.handler.server_gauges = []() -> std::vector<Gauge> { throw 42; };
    }
    SECTION("a std::exception with bytes that are not UTF-8 in its message") {
        r.handler.server_gauges = []() -> std::vector<Gauge> { throw std::runtime_error("bad \xff\xfe bytes"); };
    }
    const Response res = r.send(make(http::verb::get, "/metrics"));
    CHECK(res.result() == http::status::internal_server_error);
    CHECK(body_of(res)["error"]["code"] == "internal");
    r.handler.server_gauges = nullptr;
    CHECK(r.send(make(http::verb::get, "/healthz")).result() == http::status::ok);
    CHECK(r.send(make(http::verb::get, "/metrics")).result() == http::status::ok);
}

TEST_CASE("a full work queue answers 503 with Retry-After, then recovers", "[server][http][overload]") {
    ServerOptions so;
    so.workers = 1;
    so.queue_limit = 1;
    so.io_threads = 2;
    Running r(so);
    REQUIRE(r.store.add("dome", test::read_bytes(test::sample_photo("dome.jpg"))).ok());
    const std::string body = photo("sample1_1280.jpg");
    constexpr int kClients = 8;
    std::atomic<int> ok{0}, overloaded{0}, other{0};
    std::latch start(kClients);
    std::vector<std::thread> clients;
    for (int i = 0; i < kClients; ++i)
        clients.emplace_back([&] {
            start.arrive_and_wait();
            const Response res = r.send(make(http::verb::post, "/v1/search", body));
            if (res.result() == http::status::ok) ++ok;
            else if (res.result() == http::status::service_unavailable && res[http::field::retry_after] == "1" &&
                     body_of(res)["error"]["code"] == "overloaded")
                ++overloaded;
            else
                ++other;
        });
    for (auto& t : clients) t.join();
    CHECK(ok >= 1);
    CHECK(overloaded >= 1);
    CHECK(other == 0);
    CHECK(r.metrics.queue_depth.load() == 0);
    CHECK(r.send(make(http::verb::post, "/v1/search", body)).result() == http::status::ok);
}

namespace {

// A service whose every request waits on the workers until `expected` requests are inside at once (or 5 s
// pass), and counts the most that were: how many requests the workers really run in parallel.
struct Rendezvous : Service {
    int expected = 0;
    mutable std::mutex mutex;
    mutable std::condition_variable changed;
    mutable int inside = 0;
    mutable int most = 0;

    Route route(const RequestHeader&) const override { return {"/wait", true, false}; }
    std::size_t body_limit() const override { return 1024; }
    std::optional<Response> precheck(const RequestHeader&) const override { return std::nullopt; }
    Response handle(const Request& request) const override {
        {
            std::unique_lock lock(mutex);
            most = std::max(most, ++inside);
            changed.notify_all();
            changed.wait_for(lock, std::chrono::seconds(5), [&] { return inside >= expected; });
            --inside;
        }
        Response res(http::status::ok, request.version());
        res.body() = "ok";
        res.prepare_payload();
        return res;
    }
};

}  // namespace

TEST_CASE("every worker runs a request at once, also past the number of cores", "[server][http][concurrency]") {
    // The server's "one per hardware thread" is oneTBB's count (it follows the process's CPU affinity).
    const int cores = tbb::info::default_concurrency();
    const int workers = GENERATE_COPY(0, cores + 1);  // 0: one per hardware thread
    Rendezvous service;
    service.expected = workers > 0 ? workers : cores;
    INFO(service.expected << " workers on " << cores << " hardware threads");
    Metrics metrics;
    ServerOptions options;
    options.port = 0;
    options.workers = workers;
    options.io_threads = 2;
    Server server(service, metrics, options);
    std::thread running([&] { server.run(); });
    std::vector<std::thread> clients;
    std::atomic<int> ok{0};
    for (int i = 0; i < service.expected; ++i)
        clients.emplace_back([&] {
            net::io_context ioc;
            tcp::socket s(ioc);
            s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server.port()));
            http::write(s, make(http::verb::get, "/wait"));
            ok += read_response(s).result() == http::status::ok;
        });
    for (auto& t : clients) t.join();
    server.stop();
    running.join();
    CHECK(ok == service.expected);
    CHECK(service.most == service.expected);
}

TEST_CASE("concurrent adds and searches from many clients, and every add is found afterwards", "[server][http][concurrency]") {
    ServerOptions so;
    so.io_threads = 2;
    so.workers = 2;
    so.queue_limit = 1000;
    Running r(so);
    auto photos = test::sample_photos();
    REQUIRE(photos.size() >= 12);
    photos.resize(12);
    std::atomic<int> failures{0};
    std::atomic<bool> writing{true};
    std::vector<std::thread> threads;
    for (int w = 0; w < 4; ++w)
        threads.emplace_back([&, w] {
            for (int i = w; i < 12; i += 4) {
                const auto res = r.send(make(http::verb::put, "/v1/images/p" + std::to_string(i), str(test::read_bytes(photos[i])), kToken));
                if (res.result() != http::status::created) ++failures;
            }
        });
    std::thread searcher([&] {
        while (writing)
            if (r.send(make(http::verb::post, "/v1/search", str(test::read_bytes(photos[0])))).result() != http::status::ok) ++failures;
    });
    for (auto& t : threads) t.join();
    writing = false;
    searcher.join();
    CHECK(failures == 0);
    CHECK(r.store.stats().active == 12);
    for (int i = 0; i < 12; ++i) {
        INFO(photos[i].filename().string());
        const json hits = body_of(r.send(make(http::verb::post, "/v1/search?top=0", str(test::read_bytes(photos[i])))));
        bool found = false;
        for (const auto& m : hits["matches"]) found = found || (m["key"] == "p" + std::to_string(i) && m["match"] == true);
        CHECK(found);
    }
}

TEST_CASE("stop() lets requests in flight finish, then run() returns", "[server][http][shutdown]") {
    ServerOptions so;
    so.workers = 1;
    so.queue_limit = 100;
    auto r = std::make_unique<Running>(so);
    REQUIRE(r->store.add("dome", test::read_bytes(test::sample_photo("dome.jpg"))).ok());
    const std::string body = photo("dome.jpg");
    constexpr int kClients = 4;
    std::latch sent(kClients);
    std::atomic<int> ok{0};
    std::vector<std::thread> clients;
    for (int i = 0; i < kClients; ++i)
        clients.emplace_back([&] {
            tcp::socket s = r->socket();
            http::write(s, make(http::verb::post, "/v1/search?top=1", body));
            sent.count_down();
            beast::flat_buffer buffer;
            Response res;
            beast::error_code ec;
            http::read(s, buffer, res, ec);
            if (!ec && res.result() == http::status::ok && body_of(res)["matches"][0]["key"] == "dome" && !res.keep_alive()) ++ok;
        });
    sent.wait();
    tcp::socket idle = r->socket();  // and an idle keep-alive connection
    // Every request has reached the server, and the idle connection too.
    REQUIRE(r->wait_until([](const ServerState& st) { return st.requests == kClients && st.accepted == kClients + 1; }));
    r->server.stop();
    r->thread.join();  // returns only after every answer was written
    for (auto& t : clients) t.join();
    CHECK(ok == kClients);
    CHECK(r->server.stopping());
    CHECK(closed_by_peer(idle, std::chrono::milliseconds(1000)));
    beast::error_code ec;
    tcp::socket late(Running::client_ioc());
    late.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), r->server.port()), ec);
    CHECK(ec);  // no longer accepting
}

TEST_CASE("neardup-server serves an index and exits 0 on SIGTERM", "[server][program]") {
    test::TempDir dir;
    {
        store::Store store(dir / "db");
        REQUIRE(store.add("dome", test::read_bytes(test::sample_photo("dome.jpg"))).ok());
    }
    std::ofstream(dir / "token") << kToken << "\n";
    Program program({"--db", (dir / "db").string(), "--token-file", (dir / "token").string()});
    REQUIRE(program.port() != 0);
    REQUIRE(program.wait_for_log("index ready"));
    CHECK(program.send(make(http::verb::get, "/readyz")).result() == http::status::ok);
    CHECK(program.send(make(http::verb::put, "/v1/images/pot", photo("pot-holder.jpg"), kToken)).result() == http::status::created);
    const json hits = body_of(program.send(make(http::verb::post, "/v1/search?top=1", photo("pot-holder.jpg"))));
    CHECK(hits["matches"][0]["key"] == "pot");
    CHECK(program.terminate() == 0);
    CHECK(std::filesystem::exists(dir / "db" / "snapshot.json"));  // saved on the way out
    store::Store reopened(dir / "db");
    CHECK(reopened.stats().loaded_from_snapshot);
    CHECK(reopened.stats().active == 2);
}

TEST_CASE("neardup-server refuses bad arguments with exit status 2, an unusable address with 1", "[server][program][bad_input]") {
    test::TempDir dir;
    auto run = [&](const std::string& args) {
        const int status = std::system((std::string(NEARDUP_SERVER_BINARY) + " " + args + " 2>/dev/null").c_str());
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    };
    CHECK(run("") == 2);                                                              // --db is required
    CHECK(run("--db " + (dir / "db").string() + " --listen nonsense") == 2);
    CHECK(run("--db " + (dir / "db").string() + " --token-file " + (dir / "missing").string()) == 2);
    std::ofstream(dir / "short") << "abc\n";
    CHECK(run("--db " + (dir / "db").string() + " --token-file " + (dir / "short").string()) == 2);
    tcp::acceptor taken(Running::client_ioc(), tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    CHECK(run("--db " + (dir / "db").string() + " --listen 127.0.0.1:" + std::to_string(taken.local_endpoint().port())) == 1);
    CHECK(run("--db " + (dir / "db").string() + " --listen 192.0.2.1:8080") == 1);  // not an address of this machine
    // Options from a --config file (the package's /etc/neardup/neardup.conf): read, checked, and the command line wins.
    std::ofstream(dir / "taken.conf") << "db = \"" << (dir / "db").string() << "\"\nlisten = \"127.0.0.1:"
                                      << taken.local_endpoint().port() << "\"\n";
    CHECK(run("--config " + (dir / "taken.conf").string()) == 1);  // it tried the taken port
    CHECK(run("--config " + (dir / "taken.conf").string() + " --listen nonsense") == 2);
    std::ofstream(dir / "unknown.conf") << "db = \"" << (dir / "db").string() << "\"\nfrobnicate = 3\n";
    CHECK(run("--config " + (dir / "unknown.conf").string()) == 2);
    std::ofstream(dir / "bad-value.conf") << "db = \"" << (dir / "db").string() << "\"\nworkers = many\n";
    CHECK(run("--config " + (dir / "bad-value.conf").string()) == 2);
    CHECK(run("--config " + (dir / "missing.conf").string()) == 2);
    // A router: a route file instead of --db, and none of an index's options.
    std::ofstream(dir / "route.json") << R"({"shards": [["http://127.0.0.1:9"]]})";
    std::ofstream(dir / "bad-route.json") << R"({"shards": []})";
    CHECK(run("--route " + (dir / "route.json").string() + " --db " + (dir / "db").string()) == 2);
    CHECK(run("--route " + (dir / "route.json").string() + " --shard 0/2") == 2);
    // An embedding model that cannot be read, or is no model: refused before anything opens.
    CHECK(run("--db " + (dir / "db").string() + " --embedder " + (dir / "missing.onnx").string()) == 2);
    CHECK(run("--db " + (dir / "db").string() + " --embedder " + (dir / "short").string()) == 2);
    CHECK(run("--route " + (dir / "route.json").string() + " --embedder " + (dir / "short").string()) == 2);
    CHECK(run("--route " + (dir / "bad-route.json").string()) == 2);
    CHECK(run("--route " + (dir / "missing.json").string()) == 2);
    CHECK(run("--route " + (dir / "route.json").string() + " --listen 127.0.0.1:" + std::to_string(taken.local_endpoint().port())) == 1);
}
