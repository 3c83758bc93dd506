// Fuzzes the whole socket-free request path on raw HTTP bytes: Beast's request parser with the server's
// header and body limits, then Handler::route, Handler::precheck and Handler::handle over a small Store.
// Checks: nothing escapes handle(); every answer has a status the API uses, a JSON error body when it is an
// error, the headers its status requires, and the status precheck gave when precheck refused; no 500.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <unistd.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "neardup/server/handler.hpp"
#include "neardup/server/server.hpp"
#include "neardup/store/store.hpp"

namespace {

namespace http = neardup::server::http;
using neardup::server::Handler;

// The token the seed requests carry (fuzz/handler.dict has it too).
constexpr const char* kToken = "fuzz-token-0123456789";
// Small limits keep a run cheap: images over 128x128 are refused on their header, as the server refuses
// over 50 MP; the body limit stays below libFuzzer's input sizes so that 413 is reachable.
constexpr std::uint64_t kMaxPixels = 128 * 128;
constexpr std::size_t kBodyLimit = 64 << 10;

void fail(const char* what, const std::string& detail = {}) {
    std::fprintf(stderr, "fuzz_handler: property violated: %s\n%s\n", what, detail.c_str());
    std::abort();
}

// A store in a temporary folder (in memory where /dev/shm exists: the catalog's fsyncs are then cheap), with
// two references, made once per process and removed at exit.
struct Fixture {
    std::filesystem::path dir;
    std::unique_ptr<neardup::store::Store> store;
    neardup::server::Metrics metrics;
    std::unique_ptr<Handler> handler;
    neardup::server::ServerOptions server_options;

    Fixture() {
        const std::filesystem::path base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
        dir = base / ("neardup-fuzz-handler-" + std::to_string(::getpid()));
        std::filesystem::remove_all(dir);
        neardup::store::StoreOptions options;
        options.signature.decode.max_pixels = kMaxPixels;
        options.background_merges = false;  // no thread of its own: a run depends on its input and the store only
        store = std::make_unique<neardup::store::Store>(dir, options);
        neardup::server::HandlerOptions handler_options;
        handler_options.token = kToken;
        handler_options.body_limit = kBodyLimit;
        handler = std::make_unique<Handler>(handler_options, metrics);
        handler->attach(*store);
        add_reference("gradient", 0);
        add_reference("checks", 1);
    }
    ~Fixture() {
        handler.reset();
        store.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }

    void add_reference(const std::string& key, int pattern) {
        cv::Mat image(64, 96, CV_8UC3);
        for (int y = 0; y < image.rows; ++y)
            for (int x = 0; x < image.cols; ++x)
                image.at<cv::Vec3b>(y, x) = pattern == 0 ? cv::Vec3b(x * 2, y * 3, (x + y) & 255)
                                                         : cv::Vec3b((((x / 8) + (y / 8)) & 1) * 255, 40, 200);
        std::vector<std::uint8_t> png;
        cv::imencode(".png", image, png);
        if (!store->add(key, png).ok()) fail("the fixture's reference was not added", key);
    }
};

Fixture& fixture() {
    static Fixture f;
    return f;
}

const std::set<std::string> kPatterns = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/v1/stats",
                                         "/v1/search", "/v1/search/pdq", "/v1/images", "/v1/images/{key}",
                                         "/v1/images/{key}/thumbnail", "/", "/ui/", "unmatched"};
const std::set<unsigned> kStatuses = {200, 201, 302, 400, 401, 403, 404, 405, 409, 413, 415, 422, 501, 503};

std::string describe(const neardup::server::Response& res) {
    std::ostringstream out;
    out << res;
    return out.str().substr(0, 2000);
}

void check_response(const neardup::server::Response& res, const char* who) {
    const unsigned status = res.result_int();
    if (!kStatuses.contains(status)) fail(who, "status outside the API's: " + describe(res));
    if (res.has_content_length() && res[http::field::content_length] != std::to_string(res.body().size()))
        fail(who, "Content-Length differs from the body: " + describe(res));
    if (status >= 400) {
        if (res[http::field::content_type] != "application/json") fail(who, "error without a JSON body: " + describe(res));
        const auto body = nlohmann::json::parse(res.body(), nullptr, false);
        const auto non_empty_string = [](const nlohmann::json& e, const char* name) {
            return e.is_object() && e.contains(name) && e[name].is_string() && !e[name].get<std::string>().empty();
        };
        if (!body.is_object() || !body.contains("error") || !non_empty_string(body["error"], "code") ||
            !non_empty_string(body["error"], "message"))
            fail(who, "error body is not {\"error\": {\"code\", \"message\"}}: " + describe(res));
    }
    if (status == 401 && res[http::field::www_authenticate] != "Bearer") fail(who, "401 without WWW-Authenticate");
    if (status == 405 && res[http::field::allow].empty()) fail(who, "405 without Allow");
    if (status == 201 && res[http::field::location].empty()) fail(who, "201 without Location");
    if (status == 302 && res[http::field::location] != "/ui/") fail(who, "302 elsewhere than the reviewer page: " + describe(res));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    cv::setNumThreads(0);
    fixture();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Fixture& f = fixture();
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(f.server_options.header_limit));
    parser.body_limit(f.handler->body_limit());
    parser.eager(true);

    boost::beast::error_code ec;
    std::size_t used = 0;
    while (!parser.is_done()) {
        const std::size_t n = parser.put(boost::asio::const_buffer(data + used, size - used), ec);
        used += n;
        if (ec == http::error::need_more) ec = {};
        if (ec) break;
        if (n == 0 || used == size) {  // the input ends mid-message: what the server sees when the client closes
            if (!parser.is_done()) parser.put_eof(ec);
            break;
        }
    }
    if (!parser.is_header_done()) return 0;  // the server answers 400/431 itself, without the handler

    const neardup::server::RequestHeader& header = parser.get().base();
    const auto route = f.handler->route(header);
    if (!kPatterns.contains(route.pattern)) fail("route pattern unknown", route.pattern);
    const auto refused = f.handler->precheck(header);
    if (refused) {
        check_response(*refused, "precheck");
        if (refused->result_int() < 400) fail("precheck refused with a success status", describe(*refused));
    }
    if (!parser.is_done() || ec) return 0;

    const neardup::server::Request& request = parser.get();
    const auto res = f.handler->handle(request);  // an exception here is a finding: libFuzzer reports it
    check_response(res, "handle");
    if (std::getenv("NEARDUP_FUZZ_TRACE"))  // to see what the seeds reach
        std::fprintf(stderr, "%s %s -> %u\n", std::string(request.method_string()).c_str(), std::string(request.target()).c_str(),
                     res.result_int());
    if (refused && res.result() != refused->result())
        fail("handle answered another status than precheck refused with", describe(*refused) + "\n---\n" + describe(res));
    return 0;
}
