// The server over real HTTP on loopback: keep-alive, pipelining, limits, timeouts, overload, concurrency,
// graceful shutdown, and the neardup-server program itself.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <latch>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

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

Response read_response(tcp::socket& s) {
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
    tcp::socket socket() const {
        tcp::socket s(client_ioc());
        s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server.port()));
        return s;
    }
    Response send(const Request& req) const {
        tcp::socket s = socket();
        http::write(s, req);
        const Response res = read_response(s);
        return res;
    }
};

json body_of(const Response& res) { return json::parse(res.body()); }


// Reads until the peer closes; true if it closed (rather than timing out after `wait`).
bool closed_by_peer(tcp::socket& s, std::chrono::milliseconds wait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    s.non_blocking(true);
    char buf[4096];
    while (std::chrono::steady_clock::now() < deadline) {
        beast::error_code ec;
        s.read_some(net::buffer(buf), ec);
        if (ec == net::error::eof || ec == net::error::connection_reset) return true;
        if (ec && ec != net::error::would_block) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
}

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
    tcp::socket a = r.socket(), b = r.socket();
    http::write(a, make(http::verb::get, "/healthz"));  // both are sessions before the third arrives
    CHECK(read_response(a).result() == http::status::ok);
    http::write(b, make(http::verb::get, "/healthz"));
    CHECK(read_response(b).result() == http::status::ok);
    tcp::socket c = r.socket();
    CHECK(closed_by_peer(c, std::chrono::milliseconds(2000)));
    a.close();
    // Once one closes, a new connection is served (the server notices the close asynchronously).
    bool served = false;
    for (int i = 0; i < 100 && !served; ++i) {
        try {
            served = r.send(make(http::verb::get, "/healthz")).result() == http::status::ok;
        } catch (const std::exception&) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    CHECK(served);
}

TEST_CASE("malformed requests and bad uploads over the wire, the server keeps serving", "[server][http][bad_input]") {
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

TEST_CASE("concurrent adds and searches from many clients, every add is found afterwards", "[server][http][concurrency]") {
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
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the requests reach the server
    tcp::socket idle = r->socket();                              // and an idle keep-alive connection
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
    // A free port: bound, then released for the server.
    unsigned short port = 0;
    {
        tcp::acceptor a(Running::client_ioc(), tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
        port = a.local_endpoint().port();
    }
    std::ofstream(dir / "token") << kToken << "\n";
    const std::string listen = "127.0.0.1:" + std::to_string(port);
    std::vector<std::string> args = {NEARDUP_SERVER_BINARY, "--db", (dir / "db").string(), "--listen", listen,
                                     "--token-file", (dir / "token").string()};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, (dir / "log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = 0;
    REQUIRE(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) == 0);
    posix_spawn_file_actions_destroy(&actions);

    auto request = [&](const Request& req) {
        tcp::socket s(Running::client_ioc());
        s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
        http::write(s, req);
        const Response res = read_response(s);
        return res;
    };
    bool ready = false;
    for (int i = 0; i < 200 && !ready; ++i) {
        try {
            ready = request(make(http::verb::get, "/readyz")).result() == http::status::ok;
        } catch (const std::exception&) {
        }
        if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE(ready);
    CHECK(request(make(http::verb::put, "/v1/images/pot", photo("pot-holder.jpg"), kToken)).result() == http::status::created);
    const json hits = body_of(request(make(http::verb::post, "/v1/search?top=1", photo("pot-holder.jpg"))));
    CHECK(hits["matches"][0]["key"] == "pot");
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
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
}
