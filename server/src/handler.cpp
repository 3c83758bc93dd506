#include "neardup/server/handler.hpp"

#include <charconv>
#include <cmath>
#include <span>

#include <spdlog/spdlog.h>

#include "neardup/server/multipart.hpp"
#include "neardup/server/openapi.hpp"
#include "neardup/server/ui_assets.hpp"
#include "neardup/server/request_target.hpp"
#include "neardup/store/json.hpp"

namespace neardup::server {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;

ApiError bad_request(const std::string& message) { return ApiError(http::status::bad_request, "bad_request", message); }

// Image errors of the engine: the bytes are not a usable image (400), or an image outside the limits (422).
ApiError image_error(const Error& e) {
    switch (e.code) {
        case ErrorCode::too_large:
        case ErrorCode::too_small: return ApiError(http::status::unprocessable_entity, std::string(to_string(e.code)), e.message);
        case ErrorCode::empty_input:
        case ErrorCode::unsupported_format:
        case ErrorCode::truncated:
        case ErrorCode::decode_failed:
        case ErrorCode::invalid_key: return ApiError(http::status::bad_request, std::string(to_string(e.code)), e.message);
        default: return ApiError(http::status::internal_server_error, std::string(to_string(e.code)), e.message);
    }
}

// The image bytes of an upload: the raw body, or the field 'image' of a form.
std::span<const std::uint8_t> upload_bytes(const Request& request) {
    std::string_view body = request.body();
    if (const auto boundary = form_data_boundary(sv(request[http::field::content_type]))) {
        const auto field = form_data_field(body, *boundary, "image");
        if (!field) throw bad_request("the multipart form has no field named 'image'");
        body = *field;
    }
    return {reinterpret_cast<const std::uint8_t*>(body.data()), body.size()};
}

int parse_int(const std::string& name, const std::string& text, int lo, int hi) {
    int v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi)
        throw bad_request("query parameter '" + name + "' must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + printable(text) + "'");
    return v;
}

double parse_unit(const std::string& name, const std::string& text) {
    double v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || !(v >= 0 && v <= 1))
        throw bad_request("query parameter '" + name + "' must be a number in [0, 1], got '" + printable(text) + "'");
    return v;
}

bool parse_bool(const std::string& name, const std::string& text) {
    if (text == "true" || text == "1") return true;
    if (text == "false" || text == "0") return false;
    throw bad_request("query parameter '" + name + "' must be true or false, got '" + printable(text) + "'");
}

store::Labels parse_labels(const RequestTarget& target) {
    store::Labels labels;
    for (const std::string& l : target.all("label")) {
        const auto colon = l.find(':');
        if (colon == std::string::npos || colon == 0)
            throw bad_request("label '" + printable(l) + "' must be name:value (e.g. label=brand:acme)");
        labels[l.substr(0, colon)] = l.substr(colon + 1);
    }
    return labels;
}


double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

}  // namespace

Handler::Handler(HandlerOptions options, Metrics& metrics) : options_(std::move(options)), metrics_(metrics) {
    if (options_.token && options_.token->empty()) throw std::invalid_argument("HandlerOptions::token is empty");
}

void Handler::attach(store::Store& store) { store_.store(&store); }

store::Store& Handler::store() const {
    store::Store* s = store_.load();
    if (!s) throw ApiError(http::status::service_unavailable, "not_ready", "the index is still loading");
    return *s;
}

Route Handler::route(const RequestHeader& header) const {
    // The path alone decides the route (and the metrics label), whatever is wrong with the rest.
    const RouteId id = match_target(sv(header.target())).id;
    return {pattern(id), uses_index(id)};
}

RequestTarget Handler::check(const RequestHeader& header) const {
    RequestTarget target = check_request(header, options_);
    if (uses_index(match_target(sv(header.target())).id)) store();  // 503 until ready
    return target;
}

std::optional<Response> Handler::precheck(const RequestHeader& header) const {
    try {
        check(header);
        return std::nullopt;
    } catch (const ApiError& e) {
        return refusal(e, header, false);  // the body is left unread: close after
    }
}

Response Handler::handle(const Request& request) const {
    return guarded_answer(request, [&] {
        const RequestTarget target = check(request);
        check_body(request, options_);
        return dispatch(request, target);
    });
}

Response Handler::dispatch(const Request& request, const RequestTarget& target) const {
    const Matched m = match_target(sv(request.target()));
    const unsigned version = request.version();
    const bool keep = request.keep_alive();
    switch (m.id) {
        case RouteId::healthz: return json_response(http::status::ok, {{"status", "ok"}}, version, keep);
        case RouteId::readyz:
            if (!ready()) throw ApiError(http::status::service_unavailable, "not_ready", "the index is still loading");
            if (const auto& shard = store().options().shard; !shard.all())
                return json_response(http::status::ok, {{"status", "ready"}, {"shard", shard.text()}}, version, keep);
            return json_response(http::status::ok, {{"status", "ready"}}, version, keep);
        case RouteId::metrics: return metrics_text(request);
        case RouteId::openapi: return body_response(http::status::ok, "application/json", std::string(openapi_document()), version, keep);
        case RouteId::stats: {
            only_params(target, {});
            return json_response(http::status::ok, {{"index", store::to_json(store().stats())},
                                                    {"work_queue_depth", metrics_.queue_depth.load()},
                                                    {"in_flight", metrics_.in_flight.load()}}, version, keep);
        }
        case RouteId::search: return search(request, target);
        case RouteId::search_pdq: return search_pdq(request, target);
        case RouteId::images: return list_images(request, target);
        case RouteId::thumbnail: {
            only_params(target, {});
            auto jpeg = store().thumbnail(m.key);
            if (!jpeg) throw ApiError(http::status::not_found, "not_found", "no thumbnail for key '" + m.key + "' (unknown key, or a hash-only reference)");
            Response res = body_response(http::status::ok, "image/jpeg", std::string(jpeg->begin(), jpeg->end()), version, keep);
            res.set(http::field::cache_control, "private, max-age=60");
            return res;
        }
        case RouteId::ui_root:
        case RouteId::ui: return ui_response(request, target, m.id, m.asset);
        case RouteId::image:
            if (request.method() == http::verb::put) return put_image(request, target, m.key);
            only_params(target, {});
            if (request.method() == http::verb::delete_) {
                if (!store().remove(m.key)) throw ApiError(http::status::not_found, "not_found", "no image under key '" + m.key + "'");
                return json_response(http::status::ok, {{"key", m.key}, {"status", "deleted"}}, version, keep);
            }
            if (const auto entry = store().get(m.key)) return json_response(http::status::ok, store::to_json(*entry), version, keep);
            throw ApiError(http::status::not_found, "not_found", "no image under key '" + m.key + "'");
        case RouteId::unmatched: break;
    }
    throw ApiError(http::status::not_found, "not_found", "no route " + printable(target.path));
}

Response Handler::search(const Request& request, const RequestTarget& target) const {
    const auto start = Clock::now();
    only_params(target, {"top", "threshold", "label"});
    store::SearchOptions options;
    if (const auto top = target.get("top")) options.top = parse_int("top", *top, 0, options_.max_top);
    if (const auto threshold = target.get("threshold")) options.threshold = parse_unit("threshold", *threshold);
    options.required_labels = parse_labels(target);
    store::SearchTrace trace;
    auto hits = store().search(upload_bytes(request), options, &trace);
    for (const auto& [stage, seconds] : {std::pair{"decode", trace.decode}, {"signature", trace.signature}, {"hashes", trace.hashes},
                                         {"embeddings", trace.embeddings},
                                         {"votes", trace.votes}, {"verify", trace.verify}, {"regions", trace.regions}})
        metrics_.observe_stage(stage, seconds);
    if (!hits) throw image_error(hits.error());
    json matches = json::array();
    for (const auto& h : hits.value()) matches.push_back(store::to_json(h));
    return json_response(http::status::ok, {{"matches", matches}, {"took_ms", std::round(ms_since(start) * 100) / 100}},
                         request.version(), request.keep_alive());
}

Response Handler::list_images(const Request& request, const RequestTarget& target) const {
    only_params(target, {"prefix", "label", "after", "limit"});
    const int limit = target.get("limit") ? parse_int("limit", *target.get("limit"), 1, 500) : kDefaultListLimit;
    const std::string prefix = target.get("prefix").value_or("");
    const std::string after = target.get("after").value_or("");
    std::string next;
    json images = json::array();
    for (const auto& e : store().list(after, prefix, parse_labels(target), static_cast<std::size_t>(limit), &next)) images.push_back(store::to_json(e));
    return json_response(http::status::ok, {{"images", images}, {"next", next.empty() ? json(nullptr) : json(next)}}, request.version(),
                         request.keep_alive());
}

Response Handler::search_pdq(const Request& request, const RequestTarget& target) const {
    const auto start = Clock::now();
    only_params(target, {"top", "max_distance", "label"});
    store::PdqSearchOptions options;
    if (const auto top = target.get("top")) options.top = parse_int("top", *top, 1, std::min(options_.max_top, store::PdqSearchOptions::kMaxTop));
    if (const auto d = target.get("max_distance")) options.max_distance = parse_int("max_distance", *d, 0, 256);
    options.required_labels = parse_labels(target);
    const json body = json::parse(request.body(), nullptr, false);
    if (body.is_discarded()) throw bad_request("the body is not valid JSON");
    if (!body.is_object() || !body.contains("hashes") || !body["hashes"].is_array())
        throw bad_request("the body must be an object with an array 'hashes' of 64-hex-digit PDQ hashes");
    const auto& given = body["hashes"];
    if (given.empty()) throw bad_request("'hashes' is empty");
    if (given.size() > options_.max_pdq_hashes)
        throw bad_request("'hashes' holds " + std::to_string(given.size()) + " hashes; at most " + std::to_string(options_.max_pdq_hashes) + " per request");
    for (const auto& [name, value] : body.items())
        if (name != "hashes") throw bad_request("unknown field '" + printable(name) + "' (parameters go in the query string)");
    std::vector<Hash256> hashes;
    hashes.reserve(given.size());
    for (std::size_t i = 0; i < given.size(); ++i) {
        const auto hash = given[i].is_string() ? Hash256::from_hex(given[i].get_ref<const std::string&>()) : std::nullopt;
        if (!hash) throw bad_request("hashes[" + std::to_string(i) + "] is not a PDQ hash (a string of 64 hex digits)");
        hashes.push_back(*hash);
    }
    json results = json::array();
    const store::Store& s = store();
    for (const auto& h : hashes) {
        json matches = json::array();
        for (const auto& m : s.search_pdq(h, options)) matches.push_back(store::to_json(m));
        results.push_back({{"hash", h.to_hex()}, {"matches", matches}});
    }
    return json_response(http::status::ok, {{"results", results}, {"took_ms", std::round(ms_since(start) * 100) / 100}},
                         request.version(), request.keep_alive());
}

Response Handler::put_image(const Request& request, const RequestTarget& target, const std::string& key) const {
    only_params(target, {"label", "replace"});
    const store::Labels labels = parse_labels(target);
    const bool replace = target.get("replace") ? parse_bool("replace", *target.get("replace")) : false;
    auto status = store().add(key, upload_bytes(request), labels, replace);
    if (!status) throw image_error(status.error());
    const unsigned version = request.version();
    const bool keep = request.keep_alive();
    switch (status.value()) {
        case store::AddStatus::added: {
            Response res = json_response(http::status::created, {{"key", key}, {"status", "added"}}, version, keep);
            res.set(http::field::location, request.target().substr(0, request.target().find('?')));
            return res;
        }
        case store::AddStatus::replaced: return json_response(http::status::ok, {{"key", key}, {"status", "replaced"}}, version, keep);
        case store::AddStatus::unchanged: return json_response(http::status::ok, {{"key", key}, {"status", "unchanged"}}, version, keep);
        case store::AddStatus::conflict: break;
    }
    throw ApiError(http::status::conflict, "conflict", "key '" + key + "' holds another image; PUT with ?replace=true to replace it");
}

Response Handler::metrics_text(const Request& request) const {
    std::vector<Gauge> gauges = {{"neardup_ready", "1 once the index is loaded.", ready() ? 1.0 : 0.0},
                                 {"neardup_http_requests_in_flight", "Requests being handled.", double(metrics_.in_flight.load())},
                                 {"neardup_work_queue_depth", "Requests waiting for or running on the worker pool.", double(metrics_.queue_depth.load())}};
    if (const store::Store* s = store_.load()) {
        const auto st = s->index_stats();
        gauges.push_back({"neardup_index_entries", "References in the index, deleted ones included until compaction.", double(st.pdq_entries)});
        gauges.push_back({"neardup_index_tombstones", "Deleted or replaced references awaiting compaction.", double(st.inactive)});
        gauges.push_back({"neardup_index_descriptors", "Local-feature descriptors in the index.", double(st.descriptor_entries)});
        gauges.push_back({"neardup_index_segments", "Index segments searched by each query.", double(st.segments)});
        gauges.push_back({"neardup_index_vocabulary_words", "Visual words of the vocabulary new segments are filed under (0: none yet).",
                          double(st.vocabulary_words)});
        gauges.push_back({"neardup_catalog_followed_total",
                          "Rows and deletions other processes wrote to the shared catalog, taken into this index.", double(st.followed), true});
        const auto cache = s->query_cache_stats();
        gauges.push_back({"neardup_query_cache_hits_total", "Searches whose signatures came from the query cache.", double(cache.hits), true});
        gauges.push_back({"neardup_query_cache_misses_total", "Searches that computed their signatures.", double(cache.misses), true});
        gauges.push_back({"neardup_query_cache_bytes", "Memory held by the query cache's signatures.", double(cache.bytes)});
    }
    if (server_gauges)
        for (auto& g : server_gauges()) gauges.push_back(std::move(g));
    return body_response(http::status::ok, "text/plain; version=0.0.4; charset=utf-8", metrics_.render(gauges), request.version(),
                         request.keep_alive());
}

}  // namespace neardup::server
