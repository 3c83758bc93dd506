#include "neardup/server/api_rules.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include "neardup/server/multipart.hpp"
#include "neardup/store/key.hpp"

namespace neardup::server {
namespace {

constexpr std::string_view kImagesPrefix = "/v1/images/";
constexpr std::string_view kThumbnailSuffix = "/thumbnail";

std::string_view media_type(std::string_view content_type) {
    std::string_view t = content_type.substr(0, content_type.find(';'));
    while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
    return t;
}

bool iequals_prefix(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
    return true;
}

// Checks the content type of an upload (image/*, application/octet-stream or multipart/form-data).
void check_content_type(const RequestHeader& header) {
    const std::string_view type = media_type(sv(header[http::field::content_type]));
    if (type.empty())
        throw ApiError(http::status::unsupported_media_type, "unsupported_media_type",
                       "no Content-Type: send the image as image/* or application/octet-stream, or as the field 'image' of multipart/form-data");
    if (iequals_prefix(type, "image/") || iequals_prefix(type, "application/octet-stream") || iequals_prefix(type, "multipart/form-data"))
        return;
    throw ApiError(http::status::unsupported_media_type, "unsupported_media_type",
                   "Content-Type " + printable(type) + " is not accepted: send image/*, application/octet-stream or multipart/form-data");
}

// A JSON body (POST /v1/search/pdq).
void check_json_content_type(const RequestHeader& header) {
    const std::string_view type = media_type(sv(header[http::field::content_type]));
    if (type.size() == 16 && iequals_prefix(type, "application/json")) return;
    throw ApiError(http::status::unsupported_media_type, "unsupported_media_type",
                   type.empty() ? std::string("no Content-Type: send the hashes as application/json")
                                : "Content-Type " + printable(type) + " is not accepted: send application/json");
}

// The store's key rule, checked before the store is asked: the same rule, an answer before any work. The
// reason never quotes the key, which may be any bytes.
void check_key(const std::string& key) {
    if (const auto why = store::invalid_key_reason(key))
        throw ApiError(http::status::bad_request, "invalid_key", *why + " (keys are 1 to " + std::to_string(store::kMaxKeyBytes) +
                                                                     " bytes of UTF-8 without control characters, percent-encoded in the path)");
}

// Bodies come with a Content-Length or as `Transfer-Encoding: chunked` alone. Beast would read any list
// ending in chunked ("gzip, chunked") as plain chunked and hand over bytes still gzipped: refuse such codings
// on the headers (RFC 9112 6.1: 501 for a transfer coding the server does not implement).
void check_transfer_encoding(const RequestHeader& header) {
    const auto [first, last] = header.equal_range(http::field::transfer_encoding);
    if (first == last) return;
    std::string_view coding = sv(first->value());
    while (!coding.empty() && (coding.front() == ' ' || coding.front() == '\t')) coding.remove_prefix(1);
    while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t')) coding.remove_suffix(1);
    if (std::next(first) == last && coding.size() == 7 && iequals_prefix(coding, "chunked")) return;
    throw ApiError(http::status::not_implemented, "not_implemented",
                   "Transfer-Encoding '" + printable(sv(first->value())) + "' is not supported: send a Content-Length, or chunked alone");
}

}  // namespace


Matched match_target(std::string_view target) {
    const std::string_view raw = target.substr(0, target.find('?'));
    const auto decoded = percent_decode(raw, false);
    if (!decoded) return {};
    const std::string& path = *decoded;
    if (path == "/healthz") return {RouteId::healthz};
    if (path == "/readyz") return {RouteId::readyz};
    if (path == "/metrics") return {RouteId::metrics};
    if (path == "/openapi.json") return {RouteId::openapi};
    if (path == "/v1/stats") return {RouteId::stats};
    if (path == "/v1/search") return {RouteId::search};
    if (path == "/v1/search/pdq") return {RouteId::search_pdq};
    if (path == "/v1/images") return {RouteId::images};
    if (path == "/") return {RouteId::ui_root};
    if (path.starts_with("/ui/")) return {RouteId::ui, {}, path.substr(4)};
    if (raw.starts_with(kImagesPrefix)) {
        std::string_view rest = raw.substr(kImagesPrefix.size());
        if (rest.size() > kThumbnailSuffix.size() && rest.ends_with(kThumbnailSuffix)) {
            rest.remove_suffix(kThumbnailSuffix.size());
            if (auto key = percent_decode(rest, false)) return {RouteId::thumbnail, std::move(*key)};
            return {};
        }
        return {RouteId::image, path.substr(kImagesPrefix.size())};
    }
    return {};
}

const char* pattern(RouteId id) {
    switch (id) {
        case RouteId::healthz: return "/healthz";
        case RouteId::readyz: return "/readyz";
        case RouteId::metrics: return "/metrics";
        case RouteId::openapi: return "/openapi.json";
        case RouteId::stats: return "/v1/stats";
        case RouteId::search: return "/v1/search";
        case RouteId::search_pdq: return "/v1/search/pdq";
        case RouteId::images: return "/v1/images";
        case RouteId::image: return "/v1/images/{key}";
        case RouteId::thumbnail: return "/v1/images/{key}/thumbnail";
        case RouteId::ui_root: return "/";
        case RouteId::ui: return "/ui/";
        case RouteId::unmatched: break;
    }
    return "unmatched";
}

std::vector<http::verb> allowed(RouteId id) {
    switch (id) {
        case RouteId::search:
        case RouteId::search_pdq: return {http::verb::post};
        case RouteId::image: return {http::verb::get, http::verb::put, http::verb::delete_};
        case RouteId::unmatched: return {};
        default: return {http::verb::get};
    }
}

bool uses_index(RouteId id) {
    return id == RouteId::search || id == RouteId::search_pdq || id == RouteId::images || id == RouteId::image ||
           id == RouteId::thumbnail || id == RouteId::stats;
}

bool is_write(http::verb method) { return method == http::verb::put || method == http::verb::delete_; }

std::size_t body_limit_for(const RequestHeader& header, const HandlerOptions& options) {
    return match_target(sv(header.target())).id == RouteId::search_pdq ? options.pdq_body_limit : options.body_limit;
}


void only_params(const RequestTarget& target, std::initializer_list<std::string_view> known) {
    for (const auto& [name, value] : target.params)
        if (std::find(known.begin(), known.end(), name) == known.end()) throw ApiError(http::status::bad_request, "bad_request", "unknown query parameter '" + printable(name) + "'");
}

RequestTarget check_request(const RequestHeader& header, const HandlerOptions& options) {
    check_transfer_encoding(header);
    RequestTarget target = decode_target(sv(header.target()));
    const Matched m = match_target(sv(header.target()));
    // An image key has a rule (and an error code) of its own.
    if (m.id != RouteId::image && m.id != RouteId::thumbnail) check_path(target.path);
    if (m.id == RouteId::unmatched) throw ApiError(http::status::not_found, "not_found", "no route " + printable(target.path));
    const auto methods = allowed(m.id);
    if (std::find(methods.begin(), methods.end(), header.method()) == methods.end())
        throw ApiError(http::status::method_not_allowed, "method_not_allowed",
                       std::string(sv(header.method_string())) + " is not allowed on " + pattern(m.id));
    const bool write = is_write(header.method());
    if (write || (options.reads_require_token && uses_index(m.id) && m.id != RouteId::stats)) {
        if (!options.token)
            throw ApiError(http::status::forbidden, "forbidden", "writes are disabled: the server was started without --token-file");
        const std::string_view auth = sv(header[http::field::authorization]);
        if (auth.empty()) throw ApiError(http::status::unauthorized, "unauthorized", "this route needs Authorization: Bearer <token>");
        constexpr std::string_view scheme = "Bearer ";
        const std::string_view given = iequals_prefix(auth, "bearer ") ? auth.substr(scheme.size()) : std::string_view{};
        const std::string& want = *options.token;
        if (given.size() != want.size() || CRYPTO_memcmp(given.data(), want.data(), want.size()) != 0)
            throw ApiError(http::status::forbidden, "forbidden", "the bearer token is not valid");
    }
    const bool upload = header.method() == http::verb::post || header.method() == http::verb::put;
    if (upload) {
        const std::size_t limit = body_limit_for(header, options);
        if (const std::string_view length = sv(header[http::field::content_length]); !length.empty()) {
            std::size_t n = 0;
            const auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), n);
            if (ec == std::errc::result_out_of_range || (ec == std::errc() && n > limit))
                throw ApiError(http::status::payload_too_large, "payload_too_large",
                               "the body is over the limit of " + std::to_string(limit) + " bytes");
        }
        if (m.id == RouteId::search_pdq) check_json_content_type(header);
        else check_content_type(header);
    }
    if (m.id == RouteId::image || m.id == RouteId::thumbnail) check_key(m.key);
    return target;
}

void check_body(const Request& request, const HandlerOptions& options) {
    if (const std::size_t limit = body_limit_for(request, options); request.body().size() > limit)
        throw ApiError(http::status::payload_too_large, "payload_too_large", "the body is over the limit of " + std::to_string(limit) + " bytes");
}

Response guarded_answer(const Request& request, const std::function<Response()>& build) {
    try {
        return build();
    } catch (const ApiError& e) {
        return refusal(e, request, request.keep_alive());
    } catch (const std::exception& e) {
        spdlog::error("{} {}: {}", std::string(request.method_string()), printable(sv(request.target())), printable(e.what(), 1000));
        return error_response(ApiError(http::status::internal_server_error, "internal", "internal error: " + std::string(e.what())),
                              request.version(), request.keep_alive());
    }
}

Response refusal(const ApiError& e, const RequestHeader& header, bool keep_alive) {
    Response res = error_response(e, header.version(), keep_alive);
    if (e.status() == http::status::unauthorized) res.set(http::field::www_authenticate, "Bearer");
    if (e.status() == http::status::method_not_allowed) {
        std::string allow;
        for (const auto v : allowed(match_target(sv(header.target())).id))
            allow += (allow.empty() ? "" : ", ") + std::string(http::to_string(v));
        res.set(http::field::allow, allow);
    }
    return res;
}

}  // namespace neardup::server
