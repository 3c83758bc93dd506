// The API without sockets: every route, and every refusal with its status and error code.
#include <catch2/catch.hpp>

#include <random>
#include <regex>
#include <set>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "neardup/engine/decode.hpp"
#include "neardup/server/handler.hpp"
#include "neardup/server/openapi.hpp"
#include "neardup/server/request_target.hpp"
#include "neardup/store/json.hpp"
#include "support/image_bytes.hpp"
#include "support/sample_photos.hpp"
#include "support/temp_dir.hpp"

using namespace neardup;
using namespace neardup::server;
using json = nlohmann::json;

namespace {

const std::string kToken = "test-token-0123456789";

std::string str(const std::vector<std::uint8_t>& b) { return {b.begin(), b.end()}; }

Request make(http::verb method, const std::string& target, std::string body = {}, const std::string& type = "image/jpeg",
             const std::string& token = "") {
    Request req(method, target, 11);
    if (!body.empty() || method == http::verb::post || method == http::verb::put) req.set(http::field::content_type, type);
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    req.body() = std::move(body);
    req.prepare_payload();
    return req;
}

json body_of(const Response& res) { return json::parse(res.body()); }

// Status and error code of an answer.
void expect_error(const Response& res, http::status status, const std::string& code) {
    INFO(res.body());
    CHECK(res.result() == status);
    REQUIRE(res[http::field::content_type] == "application/json");
    CHECK(body_of(res)["error"]["code"] == code);
    CHECK_FALSE(body_of(res)["error"]["message"].get<std::string>().empty());
}

struct Fixture {
    test::TempDir dir;
    store::Store store{dir.path()};
    Metrics metrics;
    Handler handler;
    std::string dome = str(test::read_bytes(test::sample_photo("dome.jpg")));
    std::string coffee = str(test::read_bytes(test::sample_photo("coffee.jpg")));

    explicit Fixture(HandlerOptions options = with_token()) : handler(options, metrics) {
        handler.attach(store);
        REQUIRE(store.add("dome", test::read_bytes(test::sample_photo("dome.jpg")), {{"brand", "acme"}}).ok());
        REQUIRE(store.add("pot", test::read_bytes(test::sample_photo("pot-holder.jpg"))).ok());
    }
    static HandlerOptions with_token() {
        HandlerOptions o;
        o.token = kToken;
        return o;
    }
};

std::string multipart(const std::string& field, const std::string& content) {
    return "--BOUND\r\nContent-Disposition: form-data; name=\"" + field + "\"; filename=\"x.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n" +
           content + "\r\n--BOUND--\r\n";
}

}  // namespace

TEST_CASE("search answers the store's hits in the CLI's JSON", "[server][handler]") {
    Fixture f;
    const auto res = f.handler.handle(make(http::verb::post, "/v1/search?top=3", f.dome));
    REQUIRE(res.result() == http::status::ok);
    const json body = body_of(res);
    const auto want = f.store.search({reinterpret_cast<const std::uint8_t*>(f.dome.data()), f.dome.size()}, {.top = 3}).value();
    REQUIRE(body["matches"].size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) CHECK(body["matches"][i] == json::parse(store::to_json(want[i]).dump()));
    CHECK(body["matches"][0]["key"] == "dome");
    CHECK(body["matches"][0]["match"] == true);
    CHECK(body["matches"][0]["labels"]["brand"] == "acme");
    CHECK(body["took_ms"].get<double>() >= 0);

    SECTION("as a multipart form field, with the same answer") {
        const auto form = f.handler.handle(make(http::verb::post, "/v1/search?top=3", multipart("image", f.dome), "multipart/form-data; boundary=BOUND"));
        REQUIRE(form.result() == http::status::ok);
        CHECK(body_of(form)["matches"] == body["matches"]);
    }
    SECTION("label filters, top and threshold") {
        auto only = body_of(f.handler.handle(make(http::verb::post, "/v1/search?label=brand%3Aother", f.dome)));
        for (const auto& m : only["matches"]) CHECK(m["key"] != "dome");
        only = body_of(f.handler.handle(make(http::verb::post, "/v1/search?label=brand:acme", f.dome)));
        REQUIRE(only["matches"].size() == 1);
        CHECK(only["matches"][0]["key"] == "dome");
        CHECK(body_of(f.handler.handle(make(http::verb::post, "/v1/search?top=1", f.dome)))["matches"].size() == 1);
        const auto strict = body_of(f.handler.handle(make(http::verb::post, "/v1/search?threshold=1&top=1", f.coffee)));
        for (const auto& m : strict["matches"]) CHECK(m["match"] == false);
    }
}

TEST_CASE("bad search parameters are 400s", "[server][handler][bad_input]") {
    Fixture f;
    for (const char* target : {"/v1/search?top=-1", "/v1/search?top=abc", "/v1/search?top=100000", "/v1/search?threshold=1.5",
                               "/v1/search?threshold=x", "/v1/search?label=nocolon", "/v1/search?label=:v", "/v1/search?bogus=1",
                               "/v1/search?top=1&top=2"}) {
        INFO(target);
        expect_error(f.handler.handle(make(http::verb::post, target, f.dome)), http::status::bad_request, "bad_request");
    }
    expect_error(f.handler.handle(make(http::verb::post, "/v1/search", multipart("file", f.dome), "multipart/form-data; boundary=BOUND")),
                 http::status::bad_request, "bad_request");
}

TEST_CASE("bad uploads get the status of their failure", "[server][handler][bad_input]") {
    Fixture f;
    const std::string jpeg = f.dome;
    struct Case {
        std::string name, body, type;
        http::status status;
        std::string code;
    };
    std::mt19937 rng(3);
    std::string random(4096, '\0');
    for (auto& c : random) c = static_cast<char>(rng());
    const std::vector<Case> cases = {
        {"zero bytes", "", "image/jpeg", http::status::bad_request, "empty_input"},
        {"random bytes", random, "image/jpeg", http::status::bad_request, "unsupported_format"},
        {"truncated JPEG", jpeg.substr(0, jpeg.size() / 2), "image/jpeg", http::status::bad_request, "truncated"},
        {"PNG header claiming 100k x 100k", str(test::png_header_claiming(100000, 100000)), "image/png", http::status::unprocessable_entity, "too_large"},
        {"a 16x16 image", str(test::encode(cv::Mat(16, 16, CV_8UC3, cv::Scalar(1, 2, 3)), ".png")), "image/png", http::status::unprocessable_entity, "too_small"},
        {"a text content type", jpeg, "text/plain", http::status::unsupported_media_type, "unsupported_media_type"},
        {"no content type", jpeg, "", http::status::unsupported_media_type, "unsupported_media_type"},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        Request search = make(http::verb::post, "/v1/search", c.body, c.type);
        if (c.type.empty()) search.erase(http::field::content_type);
        expect_error(f.handler.handle(search), c.status, c.code);
        Request put = make(http::verb::put, "/v1/images/bad", c.body, c.type, kToken);
        if (c.type.empty()) put.erase(http::field::content_type);
        expect_error(f.handler.handle(put), c.status, c.code);
    }
    CHECK_FALSE(f.store.get("bad"));  // nothing was added
    CHECK(f.handler.handle(make(http::verb::get, "/healthz")).result() == http::status::ok);
}

TEST_CASE("images: PUT, GET, DELETE with their statuses", "[server][handler]") {
    Fixture f;
    const auto put = f.handler.handle(make(http::verb::put, "/v1/images/shop%2F1?label=brand:acme&label=case:9", f.coffee, "image/jpeg", kToken));
    REQUIRE(put.result() == http::status::created);
    CHECK(body_of(put) == json{{"key", "shop/1"}, {"status", "added"}});
    CHECK(put[http::field::location] == "/v1/images/shop%2F1");
    // Searchable at once.
    const auto hits = body_of(f.handler.handle(make(http::verb::post, "/v1/search?top=1", f.coffee)));
    CHECK(hits["matches"][0]["key"] == "shop/1");

    const auto again = f.handler.handle(make(http::verb::put, "/v1/images/shop%2F1", f.coffee, "image/jpeg", kToken));
    CHECK(again.result() == http::status::ok);
    CHECK(body_of(again)["status"] == "unchanged");
    expect_error(f.handler.handle(make(http::verb::put, "/v1/images/shop%2F1", f.dome, "image/jpeg", kToken)), http::status::conflict, "conflict");
    const auto replaced = f.handler.handle(make(http::verb::put, "/v1/images/shop%2F1?replace=true", multipart("image", f.dome),
                                                "multipart/form-data; boundary=BOUND", kToken));
    CHECK(replaced.result() == http::status::ok);
    CHECK(body_of(replaced)["status"] == "replaced");
    expect_error(f.handler.handle(make(http::verb::put, "/v1/images/k?replace=maybe", f.dome, "image/jpeg", kToken)),
                 http::status::bad_request, "bad_request");

    const auto got = f.handler.handle(make(http::verb::get, "/v1/images/shop%2F1"));
    REQUIRE(got.result() == http::status::ok);
    const json meta = body_of(got);
    CHECK(meta["key"] == "shop/1");
    CHECK(meta["labels"] == json::object());  // the replacement came without labels
    CHECK(meta["sha256"].get<std::string>().size() == 64);
    CHECK(meta["width"].get<int>() > 0);

    const auto del = f.handler.handle(make(http::verb::delete_, "/v1/images/shop%2F1", {}, "", kToken));
    CHECK(del.result() == http::status::ok);
    CHECK(body_of(del) == json{{"key", "shop/1"}, {"status", "deleted"}});
    expect_error(f.handler.handle(make(http::verb::delete_, "/v1/images/shop%2F1", {}, "", kToken)), http::status::not_found, "not_found");
    expect_error(f.handler.handle(make(http::verb::get, "/v1/images/shop%2F1")), http::status::not_found, "not_found");
    expect_error(f.handler.handle(make(http::verb::get, "/v1/images/")), http::status::bad_request, "invalid_key");
    expect_error(f.handler.handle(make(http::verb::get, "/v1/images/" + std::string(513, 'k'))), http::status::bad_request, "invalid_key");
    expect_error(f.handler.handle(make(http::verb::get, "/v1/images/a%01b")), http::status::bad_request, "invalid_key");
}

TEST_CASE("writes need the bearer token", "[server][handler][auth]") {
    Fixture f;
    const auto none = f.handler.handle(make(http::verb::put, "/v1/images/x", f.coffee));
    expect_error(none, http::status::unauthorized, "unauthorized");
    CHECK(none[http::field::www_authenticate] == "Bearer");
    expect_error(f.handler.handle(make(http::verb::put, "/v1/images/x", f.coffee, "image/jpeg", "wrong-token-0123456789")),
                 http::status::forbidden, "forbidden");
    expect_error(f.handler.handle(make(http::verb::delete_, "/v1/images/dome", {}, "", kToken + "x")), http::status::forbidden, "forbidden");
    Request basic = make(http::verb::delete_, "/v1/images/dome");
    basic.set(http::field::authorization, "Basic " + kToken);
    expect_error(f.handler.handle(basic), http::status::forbidden, "forbidden");
    CHECK(f.store.get("dome"));
    CHECK_FALSE(f.store.get("x"));
    // Reads are open by default.
    CHECK(f.handler.handle(make(http::verb::post, "/v1/search", f.dome)).result() == http::status::ok);

    SECTION("without a configured token, writes are refused outright") {
        Fixture open{HandlerOptions{}};
        expect_error(open.handler.handle(make(http::verb::put, "/v1/images/x", open.coffee, "image/jpeg", kToken)),
                     http::status::forbidden, "forbidden");
    }
    SECTION("reads can require the token too") {
        HandlerOptions o = Fixture::with_token();
        o.reads_require_token = true;
        Fixture closed{o};
        expect_error(closed.handler.handle(make(http::verb::post, "/v1/search", closed.dome)), http::status::unauthorized, "unauthorized");
        expect_error(closed.handler.handle(make(http::verb::get, "/v1/images/dome")), http::status::unauthorized, "unauthorized");
        CHECK(closed.handler.handle(make(http::verb::post, "/v1/search", closed.dome, "image/jpeg", kToken)).result() == http::status::ok);
        CHECK(closed.handler.handle(make(http::verb::get, "/healthz")).result() == http::status::ok);
    }
}

TEST_CASE("unknown routes are 404, wrong methods 405 with Allow", "[server][handler]") {
    Fixture f;
    expect_error(f.handler.handle(make(http::verb::get, "/nope")), http::status::not_found, "not_found");
    expect_error(f.handler.handle(make(http::verb::get, "/v1/search/extra")), http::status::not_found, "not_found");
    const auto get_search = f.handler.handle(make(http::verb::get, "/v1/search"));
    expect_error(get_search, http::status::method_not_allowed, "method_not_allowed");
    CHECK(get_search[http::field::allow] == "POST");
    const auto post_image = f.handler.handle(make(http::verb::post, "/v1/images/dome", f.dome));
    expect_error(post_image, http::status::method_not_allowed, "method_not_allowed");
    CHECK(post_image[http::field::allow] == "GET, PUT, DELETE");
    CHECK(f.handler.handle(make(http::verb::post, "/healthz", "x")).result() == http::status::method_not_allowed);
    expect_error(f.handler.handle(make(http::verb::get, "/v1/%zz")), http::status::bad_request, "bad_request");
}

TEST_CASE("the body limit is enforced on Content-Length and on the body", "[server][handler][bad_input]") {
    HandlerOptions o = Fixture::with_token();
    o.body_limit = 1000;
    Fixture f{o};
    // Refused on the headers, before any body is read.
    RequestHeader header = make(http::verb::post, "/v1/search", f.dome).base();
    const auto early = f.handler.precheck(header);
    REQUIRE(early);
    expect_error(*early, http::status::payload_too_large, "payload_too_large");
    CHECK_FALSE(early->keep_alive());  // the unread body would be taken for the next request
    header.set(http::field::content_length, "99999999999999999999999999");
    expect_error(*f.handler.precheck(header), http::status::payload_too_large, "payload_too_large");
    // And on a body that came without a Content-Length (chunked).
    Request chunked = make(http::verb::post, "/v1/search", f.dome);
    chunked.erase(http::field::content_length);
    chunked.chunked(true);
    expect_error(f.handler.handle(chunked), http::status::payload_too_large, "payload_too_large");
    CHECK_FALSE(f.handler.precheck(make(http::verb::post, "/v1/search", std::string(1000, 'x')).base()));
}

TEST_CASE("health, readiness, stats, metrics and the OpenAPI document", "[server][handler]") {
    Metrics metrics;
    Handler handler(Fixture::with_token(), metrics);
    CHECK(handler.handle(make(http::verb::get, "/healthz")).result() == http::status::ok);
    // Not ready before a store is attached: the routes that need it answer 503 with Retry-After.
    const auto not_ready = handler.handle(make(http::verb::get, "/readyz"));
    expect_error(not_ready, http::status::service_unavailable, "not_ready");
    CHECK(not_ready[http::field::retry_after] == "1");
    expect_error(handler.handle(make(http::verb::post, "/v1/search", "x")), http::status::service_unavailable, "not_ready");
    CHECK(handler.handle(make(http::verb::get, "/metrics")).body().find("neardup_ready 0\n") != std::string::npos);

    Fixture f;
    CHECK(body_of(f.handler.handle(make(http::verb::get, "/readyz"))) == json{{"status", "ready"}});
    const json stats = body_of(f.handler.handle(make(http::verb::get, "/v1/stats")));
    CHECK(stats["index"]["active"] == 2);
    CHECK(stats["index"]["pdq_entries"] == 2);
    f.metrics.observe("/v1/search", "POST", 200, 0.01);
    REQUIRE(f.handler.handle(make(http::verb::post, "/v1/search", f.dome)).result() == http::status::ok);
    const auto metrics_res = f.handler.handle(make(http::verb::get, "/metrics"));
    // Each search stage is a histogram, observed once per search, whether or not the stage ran (an exact
    // copy ends before the votes: 0 s; on two references they take far under a millisecond anyway).
    CHECK(metrics_res.body().find("# TYPE neardup_search_stage_seconds histogram\n") != std::string::npos);
    for (const char* stage : {"decode", "signature", "hashes", "embeddings", "votes", "verify", "regions"}) {
        INFO(stage);
        CHECK(metrics_res.body().find(std::string("neardup_search_stage_seconds_count{stage=\"") + stage + "\"} 1\n") != std::string::npos);
    }
    CHECK(metrics_res.body().find("neardup_search_stage_seconds_bucket{stage=\"votes\",le=\"0.001\"} 1\n") != std::string::npos);
    CHECK(metrics_res[http::field::content_type] == "text/plain; version=0.0.4; charset=utf-8");
    CHECK(metrics_res.body().find("neardup_index_entries 2\n") != std::string::npos);
    // Nothing to follow on the directory's own catalog.
    CHECK(metrics_res.body().find("# TYPE neardup_catalog_followed_total counter\nneardup_catalog_followed_total 0\n") != std::string::npos);
    // The same bytes again: the query cache's counters move.
    CHECK(metrics_res.body().find("# TYPE neardup_query_cache_hits_total counter\nneardup_query_cache_hits_total 0\n") != std::string::npos);
    CHECK(metrics_res.body().find("neardup_query_cache_misses_total 1\n") != std::string::npos);
    REQUIRE(f.handler.handle(make(http::verb::post, "/v1/search", f.dome)).result() == http::status::ok);
    const auto again = f.handler.handle(make(http::verb::get, "/metrics")).body();
    CHECK(again.find("neardup_query_cache_hits_total 1\n") != std::string::npos);
    CHECK(again.find("neardup_query_cache_misses_total 1\n") != std::string::npos);
    CHECK(metrics_res.body().find("neardup_ready 1\n") != std::string::npos);
    CHECK(metrics_res.body().find("neardup_http_requests_total{route=\"/v1/search\",method=\"POST\",status=\"200\"} 1\n") != std::string::npos);

    // The document served is the one in the repository, and it describes exactly the routes and methods served.
    const auto doc_res = f.handler.handle(make(http::verb::get, "/openapi.json"));
    REQUIRE(doc_res.result() == http::status::ok);
    const json doc = body_of(doc_res);
    CHECK(doc == json::parse(openapi_document()));
    CHECK(doc["openapi"] == "3.0.3");
    std::set<std::string> documented;
    for (const auto& [path, ops] : doc["paths"].items())
        for (const auto& [method, op] : ops.items())
            if (method != "parameters") documented.insert(method + " " + path);
    // In an order where each call finds what it needs (the GET before the DELETE).
    const std::vector<std::string> served = {"post /v1/search", "post /v1/search/pdq", "get /v1/images", "get /v1/images/{key}/thumbnail",
                                             "get /v1/images/{key}", "put /v1/images/{key}", "delete /v1/images/{key}",
                                             "get /healthz", "get /readyz", "get /metrics", "get /v1/stats", "get /openapi.json"};
    CHECK(documented == std::set<std::string>(served.begin(), served.end()));
    for (const auto& route : served) {
        const auto space = route.find(' ');
        std::string path = route.substr(space + 1);
        if (const auto at = path.find("{key}"); at != std::string::npos) path.replace(at, 5, "dome");
        std::string verb = route.substr(0, space);
        for (auto& c : verb) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        const auto method = http::string_to_verb(verb);
        const auto res = f.handler.handle(make(method, path, method == http::verb::post || method == http::verb::put ? f.dome : "",
                                               "image/jpeg", kToken));
        INFO(route << " -> " << res.result_int());
        CHECK(res.result() != http::status::not_found);
        CHECK(res.result() != http::status::method_not_allowed);
    }
}

namespace {

// The answer of handle() to a request, and of precheck() to its headers alone, must agree: the server uses both.
void expect_refused(const Handler& handler, const Request& req, http::status status, const std::string& code) {
    INFO(req.method_string() << " " << printable(sv(req.target())));
    const Response res = handler.handle(req);
    expect_error(res, status, code);  // json::parse throws on invalid UTF-8: the body is valid JSON
    CHECK(res.body().find('\xff') == std::string::npos);
    CHECK(res.body().find('\xc0') == std::string::npos);
    const auto early = handler.precheck(req.base());
    REQUIRE(early);
    expect_error(*early, status, code);
}

}  // namespace

TEST_CASE("bytes that are not UTF-8, NUL and malformed escapes are 400s on every route", "[server][handler][bad_input]") {
    Fixture f;
    struct Endpoint {
        http::verb method;
        std::string path;
    };
    const std::vector<Endpoint> routes = {{http::verb::get, "/healthz"},     {http::verb::get, "/readyz"},
                                       {http::verb::get, "/metrics"},     {http::verb::get, "/openapi.json"},
                                       {http::verb::get, "/v1/stats"},    {http::verb::post, "/v1/search"},
                                       {http::verb::post, "/v1/search/pdq"},
                                       {http::verb::get, "/v1/images/k"}, {http::verb::put, "/v1/images/k"},
                                       {http::verb::delete_, "/v1/images/k"}};
    // In the query: refused before routing, the same on every route.
    const std::vector<std::string> queries = {"?top=%ff", "?label=%ff", "?%ff",   "?%ff=1",  "?label=a%00b", "?top=%C0%AF",
                                              "?top=%",   "?top=%4",    "?x=%zz", "?a%00=1", "?label=%ED%A0%80"};
    // In the path: a bad key on the image routes (invalid_key), a bad path elsewhere (bad_request).
    const std::vector<std::string> path_suffixes = {"%ff", "%00", "%C0%AF", "%e2%82", "%F5%80%80%80"};
    for (const Endpoint& r : routes) {
        const std::string body = r.method == http::verb::put || r.method == http::verb::post ? f.dome : "";
        for (const std::string& q : queries)
            expect_refused(f.handler, make(r.method, r.path + q, body, "image/jpeg", kToken), http::status::bad_request, "bad_request");
        const bool image = r.path.starts_with("/v1/images/");
        for (const std::string& suffix : path_suffixes)
            expect_refused(f.handler, make(r.method, r.path + suffix, body, "image/jpeg", kToken), http::status::bad_request,
                           image ? "invalid_key" : "bad_request");
        // A '%' at the end, or one hex digit: malformed escapes, refused before routing.
        expect_refused(f.handler, make(r.method, r.path + "%", body, "image/jpeg", kToken), http::status::bad_request, "bad_request");
        expect_refused(f.handler, make(r.method, r.path + "%4", body, "image/jpeg", kToken), http::status::bad_request, "bad_request");
    }
    // Unknown routes too.
    expect_refused(f.handler, make(http::verb::get, "/%ff"), http::status::bad_request, "bad_request");
    expect_refused(f.handler, make(http::verb::get, "/%00"), http::status::bad_request, "bad_request");
    CHECK(f.handler.handle(make(http::verb::get, "/healthz")).result() == http::status::ok);
    CHECK(f.store.stats().active == 2);
}

TEST_CASE("keys outside the key rule are 400 invalid_key and store nothing", "[server][handler][bad_input]") {
    Fixture f;
    const auto before = f.store.stats();
    const std::string long_key(10 * 1024, 'k');
    const std::string long_encoded = [] {
        std::string k;
        for (int i = 0; i < 10 * 1024 / 3; ++i) k += "%ff";
        return k;
    }();
    for (const std::string& key : {std::string("%ff"), std::string("caf%C3"), std::string("%C0%AF"), std::string("a%00b"),
                                   std::string("a%0Ab"), std::string("a%C2%85b"), long_key, long_encoded, std::string(513, 'k')}) {
        INFO(printable(key));
        expect_refused(f.handler, make(http::verb::put, "/v1/images/" + key, f.coffee, "image/jpeg", kToken), http::status::bad_request,
                       "invalid_key");
        expect_refused(f.handler, make(http::verb::get, "/v1/images/" + key), http::status::bad_request, "invalid_key");
        expect_refused(f.handler, make(http::verb::delete_, "/v1/images/" + key, {}, "", kToken), http::status::bad_request, "invalid_key");
    }
    // Nothing was stored: no row under the decoded key, no new row at all, and the coffee photo is found nowhere.
    CHECK_FALSE(f.store.get("\xff"));
    CHECK_FALSE(f.store.get(long_key));
    const auto after = f.store.stats();
    CHECK(after.active == before.active);
    CHECK(after.inactive == before.inactive);
    CHECK(after.pdq_entries == before.pdq_entries);
    const json hits = body_of(f.handler.handle(make(http::verb::post, "/v1/search?top=0", f.coffee)));
    for (const auto& m : hits["matches"]) CHECK(m["match"] == false);
    // The key rule's limit is exact: 512 bytes are a key.
    const auto at_limit = f.handler.handle(make(http::verb::put, "/v1/images/" + std::string(512, 'k'), f.coffee, "image/jpeg", kToken));
    CHECK(at_limit.result() == http::status::created);
    // An unauthenticated write learns nothing about the key: the credentials are checked first.
    expect_refused(f.handler, make(http::verb::put, "/v1/images/%ff", f.coffee), http::status::unauthorized, "unauthorized");
}

TEST_CASE("header values with control bytes or bytes that are not UTF-8 are refused, never echoed raw", "[server][handler][bad_input]") {
    Fixture f;
    Request type = make(http::verb::put, "/v1/images/x", f.coffee, "image\x01/\xff\xfe", kToken);
    expect_refused(f.handler, type, http::status::unsupported_media_type, "unsupported_media_type");
    CHECK(body_of(f.handler.handle(type))["error"]["message"].get<std::string>().find("\\x01/\\xFF\\xFE") != std::string::npos);
    Request auth = make(http::verb::put, "/v1/images/x", f.coffee);
    auth.set(http::field::authorization, "Bearer \xff\x01\xc0\xaf-0123456789");
    expect_refused(f.handler, auth, http::status::forbidden, "forbidden");
    Request scheme = make(http::verb::delete_, "/v1/images/dome");
    scheme.set(http::field::authorization, "\xff\xff");
    expect_refused(f.handler, scheme, http::status::forbidden, "forbidden");
    CHECK_FALSE(f.store.get("x"));
    CHECK(f.store.get("dome"));
}

TEST_CASE("transfer codings other than chunked alone are 501 on the headers", "[server][handler][bad_input]") {
    Fixture f;
    for (const std::vector<std::string>& codings : std::vector<std::vector<std::string>>{
             {"gzip, chunked"}, {"chunked, chunked"}, {"identity"}, {"gzip"}, {"gzip", "chunked"}, {"chunked\xff"}}) {
        Request req = make(http::verb::post, "/v1/search", f.dome);
        req.erase(http::field::content_length);
        for (const auto& c : codings) req.insert(http::field::transfer_encoding, c);
        expect_refused(f.handler, req, http::status::not_implemented, "not_implemented");
    }
    Request chunked = make(http::verb::post, "/v1/search", f.dome);
    chunked.erase(http::field::content_length);
    chunked.set(http::field::transfer_encoding, "Chunked");
    CHECK_FALSE(f.handler.precheck(chunked.base()));
    CHECK(f.handler.handle(chunked).result() == http::status::ok);
}

TEST_CASE("search by PDQ hash answers each hash's references within the distance", "[server][handler][pdq]") {
    Fixture f;
    const std::string dome_hash = f.store.signature("dome")->pdq.hash.to_hex();
    const std::string far_hash(64, '0');
    const auto res = f.handler.handle(make(http::verb::post, "/v1/search/pdq",
                                           json{{"hashes", {dome_hash, far_hash}}}.dump(), "application/json"));
    REQUIRE(res.result() == http::status::ok);
    const json body = body_of(res);
    REQUIRE(body["results"].size() == 2);
    CHECK(body["results"][0]["hash"] == dome_hash);
    REQUIRE(body["results"][0]["matches"].size() == 1);
    CHECK(body["results"][0]["matches"][0] ==
          json{{"key", "dome"}, {"distance", 0}, {"quality", f.store.signature("dome")->pdq.quality}, {"labels", {{"brand", "acme"}}}, {"hash_only", false}});
    CHECK(body["results"][1]["matches"].empty());
    CHECK(body["took_ms"].is_number());
    // Upper-case hex, a label filter, and a distance of 0 with one bit flipped.
    std::string upper = dome_hash;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const auto labelled = f.handler.handle(make(http::verb::post, "/v1/search/pdq?label=brand:other", json{{"hashes", {upper}}}.dump(), "application/json"));
    REQUIRE(labelled.result() == http::status::ok);
    CHECK(body_of(labelled)["results"][0]["matches"].empty());
    std::string one_off = dome_hash;
    one_off[63] = "0123456789abcdef"[std::stoi(one_off.substr(63), nullptr, 16) ^ 1];  // one bit flipped
    for (const auto& [query, found] : {std::pair{"?max_distance=0", false}, {"?max_distance=1", true}, {"?top=1", true}}) {
        const auto r = f.handler.handle(make(http::verb::post, std::string("/v1/search/pdq") + query, json{{"hashes", {one_off}}}.dump(), "application/json"));
        INFO(query);
        REQUIRE(r.result() == http::status::ok);
        CHECK(body_of(r)["results"][0]["matches"].size() == (found ? 1u : 0u));
    }
}

TEST_CASE("search by PDQ hash refuses every malformed request with its code", "[server][handler][pdq][bad_input]") {
    HandlerOptions options = Fixture::with_token();
    options.max_pdq_hashes = 3;
    Fixture f(options);
    const std::string h(64, 'a');
    const auto post = [&](const std::string& target, const std::string& body, const std::string& type = "application/json") {
        return f.handler.handle(make(http::verb::post, target, body, type));
    };
    expect_error(post("/v1/search/pdq", json{{"hashes", {h}}}.dump(), "image/jpeg"), http::status::unsupported_media_type, "unsupported_media_type");
    expect_error(post("/v1/search/pdq", "{\"hashes\": [", "application/json"), http::status::bad_request, "bad_request");
    expect_error(post("/v1/search/pdq", "[]"), http::status::bad_request, "bad_request");
    expect_error(post("/v1/search/pdq", json{{"hashes", json::array()}}.dump()), http::status::bad_request, "bad_request");
    expect_error(post("/v1/search/pdq", json{{"hashes", {h, h, h, h}}}.dump()), http::status::bad_request, "bad_request");
    expect_error(post("/v1/search/pdq", json{{"hashes", {h, h.substr(1)}}}.dump()), http::status::bad_request, "bad_request");
    expect_error(post("/v1/search/pdq", json{{"hashes", {h, 7}}}.dump()), http::status::bad_request, "bad_request");
    expect_error(post("/v1/search/pdq", json{{"hashes", {h}}, {"top", 3}}.dump()), http::status::bad_request, "bad_request");
    expect_error(post("/v1/search/pdq?max_distance=257", json{{"hashes", {h}}}.dump()), http::status::bad_request, "bad_request");
    expect_error(post("/v1/search/pdq?top=0", json{{"hashes", {h}}}.dump()), http::status::bad_request, "bad_request");
    expect_error(post("/v1/search/pdq?threshold=0.5", json{{"hashes", {h}}}.dump()), http::status::bad_request, "bad_request");
    expect_error(post("/v1/search/pdq", std::string((1u << 20) + 1, ' ')), http::status::payload_too_large, "payload_too_large");
    expect_error(f.handler.handle(make(http::verb::get, "/v1/search/pdq")), http::status::method_not_allowed, "method_not_allowed");
    // The messages say what is wrong, and where.
    const auto bad_hex = post("/v1/search/pdq", json{{"hashes", {h, h.substr(1)}}}.dump());
    CHECK(body_of(bad_hex)["error"]["message"] == "hashes[1] is not a PDQ hash (a string of 64 hex digits)");
    const auto too_many = post("/v1/search/pdq", json{{"hashes", {h, h, h, h}}}.dump());
    CHECK(body_of(too_many)["error"]["message"] == "'hashes' holds 4 hashes; at most 3 per request");
    // The size is refused on the headers alone, before the body is read.
    Request big = make(http::verb::post, "/v1/search/pdq", "{}", "application/json");
    big.set(http::field::content_length, std::to_string((1u << 20) + 1));
    const auto early = f.handler.precheck(big.base());
    REQUIRE(early);
    expect_error(*early, http::status::payload_too_large, "payload_too_large");
}

TEST_CASE("the reviewer page is served from the program with a strict content security policy", "[server][handler][ui]") {
    Fixture f;
    const auto root = f.handler.handle(make(http::verb::get, "/"));
    CHECK(root.result() == http::status::found);
    CHECK(root[http::field::location] == "/ui/");
    const auto page = f.handler.handle(make(http::verb::get, "/ui/"));
    REQUIRE(page.result() == http::status::ok);
    CHECK(page[http::field::content_type] == "text/html; charset=utf-8");
    const std::string csp(page["Content-Security-Policy"]);
    CHECK(csp.find("default-src 'none'") != std::string::npos);
    CHECK(csp.find("script-src 'self'") != std::string::npos);
    CHECK(csp.find("frame-ancestors 'none'") != std::string::npos);
    CHECK(csp.find("unsafe") == std::string::npos);
    CHECK(page["X-Content-Type-Options"] == "nosniff");
    // No inline script or style: every <script> loads a file, and nothing carries a style attribute.
    const std::string html = page.body();
    for (std::size_t at = html.find("<script"); at != std::string::npos; at = html.find("<script", at + 1))
        CHECK(html.substr(at, html.find('>', at) - at).find(" src=\"/ui/") != std::string::npos);
    CHECK(html.find("style=") == std::string::npos);
    CHECK_FALSE(std::regex_search(html, std::regex(R"(\son[a-z]+\s*=)")));  // no onclick= and the like
    for (const auto& [name, type] : {std::pair{"/ui/app.js", "text/javascript; charset=utf-8"}, {"/ui/app.css", "text/css; charset=utf-8"}}) {
        const auto r = f.handler.handle(make(http::verb::get, name));
        INFO(name);
        CHECK(r.result() == http::status::ok);
        CHECK(r[http::field::content_type] == type);
        CHECK_FALSE(r.body().empty());
    }
    CHECK(f.handler.handle(make(http::verb::get, "/ui/app.js")).body().find("innerHTML") == std::string::npos);
    expect_error(f.handler.handle(make(http::verb::get, "/ui/secret.txt")), http::status::not_found, "not_found");
    expect_error(f.handler.handle(make(http::verb::post, "/ui/", "x")), http::status::method_not_allowed, "method_not_allowed");
}

TEST_CASE("references are listed by key, prefix and label, page by page, with their thumbnails", "[server][handler][ui]") {
    Fixture f;
    const auto list = [&](const std::string& query) {
        const auto r = f.handler.handle(make(http::verb::get, "/v1/images" + query));
        INFO(query << " -> " << r.body());
        REQUIRE(r.result() == http::status::ok);
        const json body = body_of(r);
        std::vector<std::string> keys;
        for (const auto& i : body["images"]) keys.push_back(i["key"]);
        return std::pair{keys, body["next"]};
    };
    CHECK(list("") == std::pair{std::vector<std::string>{"dome", "pot"}, json(nullptr)});
    CHECK(list("?limit=1") == std::pair{std::vector<std::string>{"dome"}, json("dome")});
    CHECK(list("?limit=1&after=dome") == std::pair{std::vector<std::string>{"pot"}, json(nullptr)});
    CHECK(list("?label=brand:acme") == std::pair{std::vector<std::string>{"dome"}, json(nullptr)});
    CHECK(list("?prefix=po") == std::pair{std::vector<std::string>{"pot"}, json(nullptr)});
    CHECK(list("?prefix=x").first.empty());
    expect_error(f.handler.handle(make(http::verb::get, "/v1/images?limit=0")), http::status::bad_request, "bad_request");
    expect_error(f.handler.handle(make(http::verb::get, "/v1/images?limit=501")), http::status::bad_request, "bad_request");
    expect_error(f.handler.handle(make(http::verb::get, "/v1/images?page=2")), http::status::bad_request, "bad_request");

    const auto thumb = f.handler.handle(make(http::verb::get, "/v1/images/dome/thumbnail"));
    REQUIRE(thumb.result() == http::status::ok);
    CHECK(thumb[http::field::content_type] == "image/jpeg");
    const std::vector<std::uint8_t> jpeg(thumb.body().begin(), thumb.body().end());
    const auto decoded = decode_image(jpeg);
    REQUIRE(decoded.ok());
    CHECK(std::max(decoded.value().width, decoded.value().height) == 256u);
    CHECK(jpeg.size() < 40'000);
    expect_error(f.handler.handle(make(http::verb::get, "/v1/images/nothing/thumbnail")), http::status::not_found, "not_found");
    // A key may end in "/thumbnail" when its slash is escaped: then it is the image, not a thumbnail.
    const auto put = f.handler.handle(make(http::verb::put, "/v1/images/a%2Fthumbnail", f.coffee, "image/jpeg", kToken));
    REQUIRE(put.result() == http::status::created);
    const auto meta = f.handler.handle(make(http::verb::get, "/v1/images/a%2Fthumbnail"));
    REQUIRE(meta.result() == http::status::ok);
    CHECK(body_of(meta)["key"] == "a/thumbnail");
    CHECK(f.handler.handle(make(http::verb::get, "/v1/images/a%2Fthumbnail/thumbnail"))[http::field::content_type] == "image/jpeg");
    expect_error(f.handler.handle(make(http::verb::put, "/v1/images/dome/thumbnail", f.coffee, "image/jpeg", kToken)),
                 http::status::method_not_allowed, "method_not_allowed");
    // Search hits say where the match lies in the query too.
    const auto search = f.handler.handle(make(http::verb::post, "/v1/search?top=1", f.dome));
    REQUIRE(search.result() == http::status::ok);
    const json region = body_of(search)["matches"][0]["query_region"];
    CHECK(region["width"].get<int>() > 100);
    CHECK(region["height"].get<int>() > 100);
}
