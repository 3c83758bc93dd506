// The router over real servers on loopback: shards on one PostgreSQL catalog (each a Store of shard k/2 behind
// its own Server), an all-keys server on the same catalog as the oracle, replicas stopped, too slow, or holding
// another shard; and the route file's rules.
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>

#include "neardup/server/handler.hpp"
#include "neardup/server/router.hpp"
#include "neardup/server/server.hpp"
#include "neardup/store/shard.hpp"
#include "support/postgres_server.hpp"
#include "support/sample_photos.hpp"
#include "support/temp_dir.hpp"

using namespace neardup;
using namespace neardup::server;
using json = nlohmann::json;
namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

namespace {

const std::string kToken = "router-token-0123456789";

HandlerOptions with_token() {
    HandlerOptions o;
    o.token = kToken;
    return o;
}

// A Server on an ephemeral loopback port over some service, run on its own thread.
struct Serving {
    Metrics metrics;
    std::unique_ptr<Service> service;
    std::unique_ptr<Server> server;
    std::thread thread;

    void start(std::unique_ptr<Service> s) {
        service = std::move(s);
        ServerOptions o;
        o.port = 0;
        server = std::make_unique<Server>(*service, metrics, o);
        thread = std::thread([this] { server->run(); });
    }
    void stop() {
        if (!server) return;
        server->stop();
        if (thread.joinable()) thread.join();
        server.reset();
    }
    ~Serving() { stop(); }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(server->port()); }
    unsigned short port() const { return server->port(); }
};

// A server over a Store of one shard (or every key) of the shared catalog.
struct Replica : Serving {
    test::TempDir dir;
    std::unique_ptr<store::Store> store;
    Replica(const std::string& catalog, std::optional<store::Shard> shard) {
        store::StoreOptions o;
        o.catalog = catalog;
        if (shard) o.shard = *shard;
        store = std::make_unique<store::Store>(dir.path(), o);
        auto handler = std::make_unique<Handler>(with_token(), metrics);
        handler->attach(*store);
        start(std::move(handler));
    }
    ~Replica() { stop(); }
};

struct Routing : Serving {
    Router* router = nullptr;
    Routing(RouteTable table, HandlerOptions options = with_token()) {
        auto r = std::make_unique<Router>(std::move(table), std::move(options), metrics);
        router = r.get();
        start(std::move(r));
    }
    ~Routing() { stop(); }
};

Endpoint endpoint_of(const Serving& s) { return parse_endpoint(s.url()); }

Response send(unsigned short port, http::verb method, const std::string& target, std::string body = {}, bool token = false,
              const std::string& content_type = "image/jpeg") {
    net::io_context ioc;
    tcp::socket s(ioc);
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    Request req(method, target, 11);
    req.set(http::field::host, "127.0.0.1");
    if (method == http::verb::post || method == http::verb::put) req.set(http::field::content_type, content_type);
    if (token) req.set(http::field::authorization, "Bearer " + kToken);
    req.body() = std::move(body);
    req.prepare_payload();
    http::write(s, req);
    beast::flat_buffer buffer;
    Response res;
    http::read(s, buffer, res);
    return res;
}

std::string photo_bytes(const std::filesystem::path& p) {
    const auto b = test::read_bytes(p);
    return {b.begin(), b.end()};
}

bool eventually(const std::function<bool()>& done, std::chrono::seconds within = std::chrono::seconds(15)) {
    const auto until = std::chrono::steady_clock::now() + within;
    while (!done()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

RouteTable table_of(std::vector<std::vector<const Serving*>> shards, int deadline_ms = 5000, int try_ms = 3000) {
    RouteTable t;
    for (const auto& s : shards) {
        std::vector<Endpoint> replicas;
        for (const Serving* r : s) replicas.push_back(endpoint_of(*r));
        t.shards.push_back(std::move(replicas));
    }
    t.deadline = std::chrono::milliseconds(deadline_ms);
    t.try_timeout = std::chrono::milliseconds(try_ms);
    t.health_interval = std::chrono::milliseconds(100);
    return t;
}

// The keys of the matches that are decisions (match: true), in order, with their scores.
std::vector<std::pair<std::string, double>> decisions(const json& body) {
    std::vector<std::pair<std::string, double>> out;
    for (const auto& m : body["matches"])
        if (m["match"].get<bool>()) out.emplace_back(m["key"].get<std::string>(), m["score"].get<double>());
    return out;
}

}  // namespace

TEST_CASE("a router answers searches, listings and stats over shards as one index over every key does", "[server][router][catalog]") {
    const std::string catalog = test::PostgresServer::shared().fresh_database();
    Replica shard0(catalog, store::Shard{0, 2}), shard1(catalog, store::Shard{1, 2}), oracle(catalog, std::nullopt);
    Routing routing(table_of({{&shard0}, {&shard1}}));
    REQUIRE(routing.router->wait_ready(std::chrono::seconds(10)));

    // Eight photos none of which is an edit of another (the samples hold rescaled copies too).
    std::vector<std::filesystem::path> photos;
    for (const char* name : {"coffee.jpg", "dome.jpg", "pot-holder.jpg", "sample1_960.jpg", "sample2_960.jpg", "slide-1.jpg", "slide-4.jpg",
                             "1144953-1-2x.jpg"})
        photos.push_back(test::sample_photo(name));
    std::map<std::string, std::filesystem::path> by_key;
    int owned_by_0 = 0;
    for (std::size_t i = 0; i < 8; ++i) {
        const std::string key = "item-" + std::to_string(i);
        by_key[key] = photos[i];
        const Response res = send(routing.port(), http::verb::put, "/v1/images/" + key, photo_bytes(photos[i]), true);
        INFO(res.body());
        REQUIRE(res.result() == http::status::created);
        CHECK(res[http::field::location] == "/v1/images/" + key);
        owned_by_0 += store::Shard{0, 2}.owns(key);
    }
    // Each write went to the shard that owns its key.
    CHECK(shard0.metrics.requests("/v1/images/{key}", "PUT", 201) == std::uint64_t(owned_by_0));
    CHECK(shard1.metrics.requests("/v1/images/{key}", "PUT", 201) == std::uint64_t(8 - owned_by_0));
    REQUIRE(owned_by_0 > 0);
    REQUIRE(owned_by_0 < 8);
    // Every server follows the others' writes.
    REQUIRE(eventually([&] { return oracle.store->index_stats().pdq_entries == 8; }));
    REQUIRE(eventually([&] { return shard0.store->index_stats().pdq_entries + shard1.store->index_stats().pdq_entries == 8; }));

    for (const auto& [key, path] : by_key) {
        INFO(key);
        const Response routed = send(routing.port(), http::verb::post, "/v1/search?top=5", photo_bytes(path));
        const Response direct = send(oracle.port(), http::verb::post, "/v1/search?top=5", photo_bytes(path));
        REQUIRE(routed.result() == http::status::ok);
        const json r = json::parse(routed.body()), d = json::parse(direct.body());
        CHECK(r["partial"] == false);
        CHECK_FALSE(r.contains("missing_shards"));
        REQUIRE_FALSE(decisions(r).empty());
        CHECK(decisions(r).front().first == key);
        CHECK(decisions(r) == decisions(d));
        for (std::size_t i = 1; i < r["matches"].size(); ++i) CHECK(r["matches"][i - 1]["score"] >= r["matches"][i]["score"]);
    }
    SECTION("top cuts the merged list") {
        const Response res = send(routing.port(), http::verb::post, "/v1/search?top=1", photo_bytes(by_key.begin()->second));
        CHECK(json::parse(res.body())["matches"].size() == 1);
    }
    SECTION("a listing pages through every key once, in byte order, as one index does") {
        std::vector<std::string> routed, direct;
        for (std::string after;;) {
            const json page = json::parse(send(routing.port(), http::verb::get, "/v1/images?limit=3&after=" + after).body());
            for (const auto& e : page["images"]) routed.push_back(e["key"]);
            CHECK(page["images"].size() <= 3);
            if (page["next"].is_null()) break;
            after = page["next"];
        }
        const Response listed = send(oracle.port(), http::verb::get, "/v1/images?limit=100");
        INFO(listed.body());
        const json listing = json::parse(listed.body());
        for (const auto& e : listing["images"]) direct.push_back(e["key"]);
        CHECK(routed == direct);
        CHECK(routed.size() == 8);
    }
    SECTION("stats add the shards' index counts and show each shard") {
        const json s = json::parse(send(routing.port(), http::verb::get, "/v1/stats").body());
        CHECK(s["index"]["pdq_entries"] == 8);
        CHECK(s["index"]["active"] == 8);
        REQUIRE(s["shards"].size() == 2);
        CHECK(s["shards"][0]["shard"] == "0/2");
        CHECK(s["shards"][0]["index"]["pdq_entries"] == owned_by_0);
        CHECK(s["partial"] == false);
    }
    SECTION("PDQ searches merge per hash, nearest first, as one index finds them") {
        const std::string query = R"({"hashes": [")" + std::string(64, '0') + R"(", ")" + std::string(64, 'f') + R"("]})";
        const json routed = json::parse(send(routing.port(), http::verb::post, "/v1/search/pdq?top=3&max_distance=256", query, false, "application/json").body());
        const json direct = json::parse(send(oracle.port(), http::verb::post, "/v1/search/pdq?top=3&max_distance=256", query, false, "application/json").body());
        REQUIRE(routed["results"].size() == 2);
        for (int h = 0; h < 2; ++h) {
            const auto& m = routed["results"][h]["matches"];
            REQUIRE(m.size() == 3);
            for (std::size_t i = 0; i < m.size(); ++i) {
                CHECK(m[i]["distance"] == direct["results"][h]["matches"][i]["distance"]);  // keys may differ on ties
                if (i > 0) CHECK(m[i - 1]["distance"] <= m[i]["distance"]);
            }
        }
        CHECK(routed["partial"] == false);
    }
    SECTION("a key's requests go to its shard: GET, thumbnail, DELETE") {
        const std::string key = "item-3";
        const unsigned short port = routing.port();
        CHECK(send(port, http::verb::get, "/v1/images/" + key).result() == http::status::ok);
        const Response thumb = send(port, http::verb::get, "/v1/images/" + key + "/thumbnail");
        CHECK(thumb.result() == http::status::ok);
        CHECK(thumb[http::field::content_type] == "image/jpeg");
        CHECK(send(port, http::verb::delete_, "/v1/images/" + key, {}, true).result() == http::status::ok);
        CHECK(send(port, http::verb::delete_, "/v1/images/" + key, {}, true).result() == http::status::not_found);
        Serving& owner = store::Shard{0, 2}.owns(key) ? static_cast<Serving&>(shard0) : shard1;
        CHECK(owner.metrics.requests("/v1/images/{key}", "DELETE", 200) == 1);
    }
}

TEST_CASE("a router refuses a request as one server does, on its headers, before asking any shard", "[server][router]") {
    // The replica's address is never reached: every request here is refused by the rules on headers.
    RouteTable table;
    table.shards = {{parse_endpoint("http://127.0.0.1:9")}};
    Routing routing(table);
    const unsigned short port = routing.port();
    CHECK(send(port, http::verb::get, "/v2/nothing").result() == http::status::not_found);
    const Response wrong_method = send(port, http::verb::get, "/v1/search");
    CHECK(wrong_method.result() == http::status::method_not_allowed);
    CHECK(wrong_method[http::field::allow] == "POST");
    const Response no_token = send(port, http::verb::put, "/v1/images/a", "x");
    CHECK(no_token.result() == http::status::unauthorized);
    CHECK(no_token[http::field::www_authenticate] == "Bearer");
    CHECK(send(port, http::verb::put, "/v1/images/a", "x", true, "text/plain").result() == http::status::unsupported_media_type);
    CHECK(json::parse(send(port, http::verb::get, "/healthz").body())["status"] == "ok");
    CHECK(send(port, http::verb::get, "/openapi.json").body().find("\"openapi\"") != std::string::npos);
    CHECK(send(port, http::verb::get, "/ui/").result() == http::status::ok);
    const Response not_ready = send(port, http::verb::get, "/readyz");
    CHECK(not_ready.result() == http::status::service_unavailable);
    CHECK(json::parse(not_ready.body())["error"]["message"] == "no live replica of shard(s) 0");
    CHECK(routing.metrics.requests("/v2/nothing", "GET", 404) == 0);  // labelled by pattern, never the raw path
    CHECK(routing.router->counts().upstream_failures == 0);
}

TEST_CASE("a router retries a failed replica on the next, and names a shard none answered for", "[server][router][catalog]") {
    const std::string catalog = test::PostgresServer::shared().fresh_database();
    Replica shard0(catalog, store::Shard{0, 2}), shard1a(catalog, store::Shard{1, 2}), shard1b(catalog, store::Shard{1, 2});
    Routing routing(table_of({{&shard0}, {&shard1a, &shard1b}}));
    REQUIRE(routing.router->wait_ready(std::chrono::seconds(10)));
    const auto photos = test::sample_photos();
    // Keys of each shard.
    std::vector<std::string> keys0, keys1;
    for (int i = 0; keys0.size() < 1 || keys1.size() < 2; ++i) {
        const std::string k = "key-" + std::to_string(i);
        (store::Shard{0, 2}.owns(k) ? keys0 : keys1).push_back(k);
    }
    const std::string key0 = keys0[0], key1 = keys1[0];
    REQUIRE(send(routing.port(), http::verb::put, "/v1/images/" + key1, photo_bytes(photos[1]), true).result() == http::status::created);
    REQUIRE(eventually([&] { return shard1a.store->index_stats().pdq_entries == 1 && shard1b.store->index_stats().pdq_entries == 1; }));

    const std::string url1a = shard1a.url();
    shard1a.stop();  // its port now refuses connections
    for (int i = 0; i < 4; ++i) {
        const Response res = send(routing.port(), http::verb::post, "/v1/search", photo_bytes(photos[1]));
        REQUIRE(res.result() == http::status::ok);
        const json body = json::parse(res.body());
        CHECK(body["partial"] == false);
        REQUIRE_FALSE(decisions(body).empty());
        CHECK(decisions(body).front().first == key1);
    }
    REQUIRE(eventually([&] {
        for (const auto& r : routing.router->replicas())
            if (r.url == url1a) return !r.live && r.problem.find("refused") != std::string::npos;
        return false;
    }));

    shard1b.stop();
    const Response res = send(routing.port(), http::verb::post, "/v1/search", photo_bytes(photos[1]));
    REQUIRE(res.result() == http::status::ok);
    const json body = json::parse(res.body());
    CHECK(body["partial"] == true);
    CHECK(body["missing_shards"] == json::array({1}));
    CHECK(decisions(body).empty());  // the match was on the missing shard
    CHECK(routing.router->counts().partial_answers >= 1);

    const Response write1 = send(routing.port(), http::verb::put, "/v1/images/" + keys1[1], photo_bytes(photos[2]), true);
    CHECK(write1.result() == http::status::service_unavailable);
    CHECK(write1[http::field::retry_after] == "1");
    CHECK(json::parse(write1.body())["error"]["message"].get<std::string>().starts_with("no replica of shard 1/2, which owns this key, answered: "));
    const Response write0 = send(routing.port(), http::verb::put, "/v1/images/" + key0, photo_bytes(photos[3]), true);
    CHECK(write0.result() == http::status::created);
    const Response down = send(routing.port(), http::verb::get, "/readyz");
    CHECK(down.result() == http::status::service_unavailable);

    SECTION("every shard down: 503, naming each") {
        shard0.stop();
        const Response none = send(routing.port(), http::verb::post, "/v1/search", photo_bytes(photos[1]));
        CHECK(none.result() == http::status::service_unavailable);
        const std::string message = json::parse(none.body())["error"]["message"];
        CHECK(message.find("shard 0: ") != std::string::npos);
        CHECK(message.find("shard 1: ") != std::string::npos);
    }
}

TEST_CASE("a router gives up on a replica that does not answer in time, and answers within its deadline", "[server][router]") {
    // A listener that never accepts: connections complete in its backlog and no answer ever comes.
    net::io_context ioc;
    tcp::acceptor silent(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    RouteTable table;
    table.shards = {{parse_endpoint("http://127.0.0.1:" + std::to_string(silent.local_endpoint().port()))}};
    table.deadline = std::chrono::milliseconds(600);
    table.try_timeout = std::chrono::milliseconds(300);
    Routing routing(table);
    const auto t0 = std::chrono::steady_clock::now();
    const Response res = send(routing.port(), http::verb::get, "/v1/stats");
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(res.result() == http::status::service_unavailable);
    const std::string message = json::parse(res.body())["error"]["message"];
    CHECK(message.find("no answer in time") != std::string::npos);
    // Two tries of 300 ms fit the 600 ms deadline (the one replica is tried again only if time is left).
    CHECK(took >= std::chrono::milliseconds(290));
    CHECK(took < std::chrono::milliseconds(2000));
}

TEST_CASE("a router does not send a write that may have been applied to another replica", "[server][router]") {
    // Two replicas that accept connections and never answer: a PUT reaches the first, which may apply it.
    net::io_context ioc;
    tcp::acceptor silent_a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    tcp::acceptor silent_b(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    RouteTable table;
    table.shards = {{parse_endpoint("http://127.0.0.1:" + std::to_string(silent_a.local_endpoint().port())),
                     parse_endpoint("http://127.0.0.1:" + std::to_string(silent_b.local_endpoint().port()))}};
    table.deadline = std::chrono::milliseconds(900);
    table.try_timeout = std::chrono::milliseconds(300);
    Routing routing(table);
    const Response put = send(routing.port(), http::verb::put, "/v1/images/a", "bytes", true);
    CHECK(put.result() == http::status::service_unavailable);
    const std::string message = json::parse(put.body())["error"]["message"];
    CHECK(message.find("(a write that may have been applied is not retried: GET the key to see)") != std::string::npos);
    std::size_t tried = 0;
    for (auto at = message.find("http://"); at != std::string::npos; at = message.find("http://", at + 1)) ++tried;
    CHECK(tried == 1);
    // A search is safe to repeat: both are tried.
    const Response search = send(routing.port(), http::verb::post, "/v1/search", "bytes");
    const std::string searched = json::parse(search.body())["error"]["message"];
    tried = 0;
    for (auto at = searched.find("http://"); at != std::string::npos; at = searched.find("http://", at + 1)) ++tried;
    CHECK(tried == 2);
    CHECK(routing.router->counts().retries >= 1);
}

TEST_CASE("a router does not use a replica that holds another shard than the route file says", "[server][router][catalog]") {
    const std::string catalog = test::PostgresServer::shared().fresh_database();
    Replica shard0(catalog, store::Shard{0, 2}), shard1(catalog, store::Shard{1, 2});
    Routing routing(table_of({{&shard1}, {&shard0}}));  // swapped
    REQUIRE(eventually([&] {
        const auto rs = routing.router->replicas();
        return std::all_of(rs.begin(), rs.end(), [](const ReplicaState& r) { return r.problem.starts_with("holds shard"); });
    }));
    const auto rs = routing.router->replicas();
    CHECK(rs[0].problem == "holds shard '1/2', not 0/2 as the route file says");
    CHECK_FALSE(routing.router->wait_ready(std::chrono::milliseconds(300)));
    // Never asked: its answer would stand for the other shard's.
    const Response res = send(routing.port(), http::verb::get, "/v1/stats");
    CHECK(res.result() == http::status::service_unavailable);
    CHECK(json::parse(res.body())["error"]["message"].get<std::string>().find("no replica that holds this shard") != std::string::npos);
    CHECK(shard0.metrics.requests("/v1/stats", "GET", 200) == 0);
    CHECK(shard1.metrics.requests("/v1/stats", "GET", 200) == 0);
}

TEST_CASE("a route file is refused with the reason, field by field", "[server][router][bad_input]") {
    const auto why = [](const std::string& text) -> std::string {
        try {
            parse_route_table(text);
            return "accepted";
        } catch (const RouteTableError& e) {
            return e.what();
        }
    };
    CHECK(why("{") == "not valid JSON");
    CHECK(why("[]") == "expected a JSON object with 'shards'");
    CHECK(why(R"({"shards": []})") == "'shards' must be a non-empty list: one list of replica URLs per shard");
    CHECK(why(R"({"shards": [[]]})") == "shard 0/1 must be a non-empty list of replica URLs");
    CHECK(why(R"({"shards": [["http://a:1"], [3]]})") == "shard 1/2: a replica must be a URL string");
    CHECK(why(R"({"shards": [["https://a:1"]]})") == "replica 'https://a:1' must be http://HOST:PORT (the router speaks plain HTTP to its replicas)");
    CHECK(why(R"({"shards": [["http://a"]]})") == "replica 'http://a' has no port: expected http://HOST:PORT");
    CHECK(why(R"({"shards": [["http://a:0"]]})") == "replica 'http://a:0' has no valid port (1 to 65535)");
    CHECK(why(R"({"shards": [["http://:80"]]})") == "replica 'http://:80' has no valid host: expected http://HOST:PORT");
    CHECK(why(R"({"shards": [["http://a:1", "http://a:1/"]]})") == "shard 0/1: replica http://a:1 is listed twice");
    CHECK(why(R"({"shards": [["http://a:1"]], "deadline": 5})") ==
          "unknown field 'deadline' (known: shards, deadline_ms, try_timeout_ms, health_interval_ms)");
    CHECK(why(R"({"shards": [["http://a:1"]], "deadline_ms": 0})") == "'deadline_ms' must be an integer number of milliseconds in [1, 600000]");
    CHECK(why(R"({"shards": [["http://a:1"]], "deadline_ms": 100, "try_timeout_ms": 200})") == "'try_timeout_ms' (200) is over 'deadline_ms' (100)");
    CHECK(why(R"({"shards": [["http://[::1]:8080"]]})") == "accepted");

    const RouteTable t = parse_route_table(R"({"shards": [["http://10.0.0.1:8080/", "http://[::1]:81"], ["http://b.example:9"]], "deadline_ms": 800})");
    REQUIRE(t.shards.size() == 2);
    CHECK(t.shards[0][0].host == "10.0.0.1");
    CHECK(t.shards[0][0].port == "8080");
    CHECK(t.shards[0][1].host == "::1");
    CHECK(t.shards[0][1].url() == "http://[::1]:81");
    CHECK(t.shards[1][0].url() == "http://b.example:9");
    CHECK(t.deadline == std::chrono::milliseconds(800));
    CHECK(t.try_timeout == std::chrono::milliseconds(800));  // the default 1500 ms, cut to the deadline
    CHECK(t.health_interval == std::chrono::milliseconds(500));

    test::TempDir dir;
    CHECK_THROWS_WITH(load_route_table(dir.path() / "none.json"), "cannot read the route file " + (dir.path() / "none.json").string());
}
