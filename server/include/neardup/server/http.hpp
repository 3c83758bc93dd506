// The HTTP message types of the API, and the JSON error every failure answers with.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace neardup::server {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using RequestHeader = http::request_header<>;
using Response = http::response<http::string_body>;

// Beast (Boost 1.74) speaks boost::string_view.
inline std::string_view sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

// An expected failure of one request: its status and a stable machine-readable code
// (`{"error": {"code": "...", "message": "..."}}`).
class ApiError : public std::runtime_error {
public:
    ApiError(http::status status, std::string code, const std::string& message)
        : std::runtime_error(message), status_(status), code_(std::move(code)) {}
    http::status status() const { return status_; }
    const std::string& code() const { return code_; }

private:
    http::status status_;
    std::string code_;
};

// `version` and `keep_alive` follow the request being answered.
// A body of the given type, Content-Length set.
Response body_response(http::status status, std::string_view content_type, std::string body, unsigned version, bool keep_alive);
Response json_response(http::status status, const nlohmann::ordered_json& body, unsigned version, bool keep_alive);
Response error_response(const ApiError& error, unsigned version, bool keep_alive);

}  // namespace neardup::server
