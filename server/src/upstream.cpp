#include "upstream.hpp"

#include <optional>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace neardup::server {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

// What a kept-alive connection closed by the other side looks like when it is used again.
bool stale_connection(const beast::error_code& ec) {
    return ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
           ec == net::error::broken_pipe || ec == net::error::connection_aborted;
}

}  // namespace

// One request and its answer. The steps run one after another, so the stream needs no strand.
struct Upstream::Exchange : std::enable_shared_from_this<Exchange> {
    std::shared_ptr<Upstream> upstream;
    std::shared_ptr<const Request> request;
    Clock::time_point deadline;
    Done done;
    std::unique_ptr<beast::tcp_stream> stream;
    tcp::resolver resolver;
    beast::flat_buffer buffer;
    std::optional<http::response_parser<http::string_body>> parser;
    bool reused = false;
    bool connected = false;  // a connection was made: the request may have reached the replica

    Exchange(std::shared_ptr<Upstream> u, std::shared_ptr<const Request> r, Clock::time_point d, Done f)
        : upstream(std::move(u)), request(std::move(r)), deadline(d), done(std::move(f)), resolver(upstream->executor_) {}

    void start() {
        stream = upstream->take_idle();
        reused = stream != nullptr;
        connected = reused;
        if (reused) write();
        else connect();
    }

    void connect() {
        reused = false;
        connected = false;  // a stale pooled connection was closed by the replica before it read anything
        stream = std::make_unique<beast::tcp_stream>(upstream->executor_);
        if (auto cached = upstream->cached_addresses()) return connect_to(*cached);
        const Endpoint& e = upstream->endpoint_;
        resolver.async_resolve(e.host, e.port, [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type found) {
            if (ec) return self->finish(ec);
            if (Clock::now() >= self->deadline) return self->finish(beast::error::timeout);
            self->upstream->remember_addresses(found);
            self->connect_to(found);
        });
    }

    void connect_to(const tcp::resolver::results_type& addresses) {
        stream->expires_at(deadline);
        stream->async_connect(addresses, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
            if (ec) {
                self->upstream->forget_addresses();
                return self->finish(ec);
            }
            self->stream->socket().set_option(tcp::no_delay(true), ec);
            self->connected = true;
            self->write();
        });
    }

    void write() {
        stream->expires_at(deadline);
        http::async_write(*stream, *request, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) return self->retry_or_finish(ec);
            self->read();
        });
    }

    void read() {
        parser.emplace();
        parser->body_limit(kMaxResponseBytes);
        buffer.clear();
        http::async_read(*stream, buffer, *parser, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) return self->retry_or_finish(ec);
            Response res = self->parser->release();
            if (res.keep_alive()) {
                self->stream->expires_never();
                self->upstream->give_back(std::move(self->stream));
            }
            self->finish({}, std::move(res));
        });
    }

    void retry_or_finish(beast::error_code ec) {
        // Nothing of an answer read on a pooled connection: the replica closed it while idle.
        if (reused && stale_connection(ec) && !(parser && parser->got_some()) && Clock::now() < deadline) {
            stream.reset();
            return connect();
        }
        finish(ec);
    }

    void finish(beast::error_code ec, Response res = {}) {
        if (ec && stream) {
            beast::error_code ignored;
            stream->socket().close(ignored);
        }
        stream.reset();
        auto callback = std::move(done);
        callback({ec, std::move(res), connected});
    }
};

Upstream::Upstream(net::any_io_executor executor, Endpoint endpoint, std::size_t max_idle)
    : executor_(std::move(executor)), endpoint_(std::move(endpoint)), max_idle_(max_idle) {}

Upstream::~Upstream() = default;

void Upstream::send(std::shared_ptr<const Request> request, Clock::time_point deadline, Done done) {
    auto exchange = std::make_shared<Exchange>(shared_from_this(), std::move(request), deadline, std::move(done));
    net::post(executor_, [exchange] { exchange->start(); });
}

std::unique_ptr<beast::tcp_stream> Upstream::take_idle() {
    std::lock_guard lock(mutex_);
    if (idle_.empty()) return nullptr;
    auto s = std::move(idle_.back());
    idle_.pop_back();
    return s;
}

void Upstream::give_back(std::unique_ptr<beast::tcp_stream> stream) {
    std::lock_guard lock(mutex_);
    if (idle_.size() < max_idle_) idle_.push_back(std::move(stream));
}

void Upstream::drop_idle() {
    std::vector<std::unique_ptr<beast::tcp_stream>> dropped;
    std::lock_guard lock(mutex_);
    dropped.swap(idle_);
    resolved_.reset();
}

std::optional<tcp::resolver::results_type> Upstream::cached_addresses() {
    std::lock_guard lock(mutex_);
    return resolved_;
}

void Upstream::remember_addresses(const tcp::resolver::results_type& addresses) {
    std::lock_guard lock(mutex_);
    resolved_ = addresses;
}

void Upstream::forget_addresses() {
    std::lock_guard lock(mutex_);
    resolved_.reset();
}

}  // namespace neardup::server
