#include "neardup/server/server.hpp"

#include <algorithm>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>
#include <tbb/task_arena.h>

namespace neardup::server {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

}  // namespace

class Session;

struct Server::Impl {
    Handler& handler;
    Metrics& metrics;
    ServerOptions options;
    net::io_context ioc;
    tcp::acceptor acceptor;
    net::signal_set signals;
    tbb::task_arena workers;
    std::atomic<bool> stopping{false};
    std::mutex sessions_mutex;
    std::vector<std::weak_ptr<Session>> sessions;

    Impl(Handler& h, Metrics& m, ServerOptions o);
    void accept();
    void submit(std::shared_ptr<Session> session, Request request);
    void begin_stop();
};

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, Server::Impl& server) : stream_(std::move(socket)), server_(server) {}

    void start() {
        net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
    }
    // On the session's strand.
    void close_if_idle() {
        if (!idle_) return;  // a request is being read or answered: it finishes first
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);  // the pending read completes with an error
    }
    net::any_io_executor executor() { return stream_.get_executor(); }

    // Answers the current request; `close` forces the connection closed afterwards.
    void respond(Response res, bool close = false) {
        const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
        server_.metrics.observe(route_, method_, res.result_int(), seconds);
        server_.metrics.in_flight.fetch_sub(1);
        if (server_.stopping.load()) close = true;
        if (close) res.keep_alive(false);
        if (res.result_int() >= 500) spdlog::warn("{} {} -> {}", method_, target_, res.result_int());
        else spdlog::debug("{} {} -> {} in {:.1f} ms", method_, target_, res.result_int(), seconds * 1e3);
        auto message = std::make_shared<Response>(std::move(res));
        stream_.expires_after(server_.options.write_timeout);
        http::async_write(stream_, *message, [self = shared_from_this(), message](beast::error_code ec, std::size_t) {
            if (ec || !message->keep_alive()) return self->shutdown();
            self->read_header();
        });
    }

private:
    void read_header() {
        if (server_.stopping.load()) return shutdown();
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(server_.options.header_limit));
        parser_->body_limit(server_.options.body_limit);
        idle_ = true;
        stream_.expires_after(server_.options.header_timeout);
        http::async_read_header(stream_, buffer_, *parser_,
                                [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
    }

    void begin_request(std::string_view method, std::string_view target) {
        idle_ = false;
        start_ = Clock::now();
        method_ = std::string(method);
        target_ = std::string(target.substr(0, 200));
        server_.metrics.in_flight.fetch_add(1);
    }

    // A request that could not be read: answered (unless nothing of it arrived) and the connection closed.
    void fail_read(beast::error_code ec) {
        // Nothing of a request arrived (an idle keep-alive connection timed out, closed, or was closed for
        // shutdown), or the client went away mid-request: nobody to answer.
        if (!parser_ || !parser_->got_some() || ec == http::error::end_of_stream || ec == http::error::partial_message ||
            ec == net::error::eof || ec == net::error::connection_reset || ec == net::error::operation_aborted)
            return shutdown();
        const bool header = parser_->is_header_done();
        begin_request(header ? sv(parser_->get().method_string()) : "?", header ? sv(parser_->get().target()) : "?");
        ApiError error(http::status::bad_request, "bad_request", "malformed request: " + ec.message());
        if (timed_out(ec))
            error = ApiError(http::status::request_timeout, "request_timeout", "the request was not received in time");
        else if (ec == http::error::body_limit)
            error = ApiError(http::status::payload_too_large, "payload_too_large",
                             "the body is over the limit of " + std::to_string(server_.options.body_limit) + " bytes");
        else if (ec == http::error::header_limit)
            error = ApiError(http::status::request_header_fields_too_large, "header_too_large",
                             "the request headers are over " + std::to_string(server_.options.header_limit) + " bytes");
        respond(error_response(error, 11, false), true);
    }

    static bool timed_out(beast::error_code ec) { return ec == beast::error::timeout; }

    void on_header(beast::error_code ec) {
        if (ec) return fail_read(ec);
        const RequestHeader& header = parser_->get();
        begin_request(sv(header.method_string()), sv(header.target()));
        route_ = server_.handler.route(header).pattern;
        if (auto refused = server_.handler.precheck(header)) {
            // Refused on its headers: the body is never read, so the connection cannot carry on.
            return respond(std::move(*refused), true);
        }
        if (beast::iequals(header[http::field::expect], "100-continue")) {
            auto go_on = std::make_shared<http::response<http::empty_body>>(http::status::continue_, header.version());
            http::async_write(stream_, *go_on, [self = shared_from_this(), go_on](beast::error_code ec, std::size_t) {
                if (ec) return self->abandon();
                self->read_body();
            });
            return;
        }
        read_body();
    }

    void read_body() {
        stream_.expires_after(server_.options.body_timeout);
        http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_body(ec); });
    }

    void on_body(beast::error_code ec) {
        if (ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
            ec == net::error::operation_aborted)
            return abandon();
        if (ec) {
            const ApiError error = timed_out(ec) ? ApiError(http::status::request_timeout, "request_timeout", "the body was not received in time")
                                   : ec == http::error::body_limit
                                       ? ApiError(http::status::payload_too_large, "payload_too_large",
                                                  "the body is over the limit of " + std::to_string(server_.options.body_limit) + " bytes")
                                       : ApiError(http::status::bad_request, "bad_request", "malformed request body: " + ec.message());
            return respond(error_response(error, parser_->get().version(), false), true);
        }
        stream_.expires_never();
        Request request = parser_->release();
        if (server_.handler.route(request).on_worker) return server_.submit(shared_from_this(), std::move(request));
        respond(server_.handler.handle(request));
    }

    // The client went away mid-request: nothing to answer.
    void abandon() {
        server_.metrics.in_flight.fetch_sub(1);
        shutdown();
    }

    void shutdown() {
        idle_ = false;
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        stream_.close();
    }

    beast::tcp_stream stream_;
    Server::Impl& server_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    bool idle_ = false;
    Clock::time_point start_;
    std::string route_ = "unmatched", method_, target_;
};

Server::Impl::Impl(Handler& h, Metrics& m, ServerOptions o)
    : handler(h),
      metrics(m),
      options(std::move(o)),
      ioc(std::max(1, options.io_threads)),
      acceptor(net::make_strand(ioc)),
      signals(ioc),
      workers(options.workers > 0 ? options.workers : tbb::task_arena::automatic) {
    const tcp::endpoint endpoint(net::ip::make_address(options.address), options.port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(net::socket_base::max_listen_connections);
    handler.server_gauges = [this] {
        return std::vector<Gauge>{{"neardup_work_queue_capacity", "Requests the worker pool queue holds before answering 503.",
                                   double(options.queue_limit)}};
    };
}

void Server::Impl::accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
        if (!ec) {
            auto session = std::make_shared<Session>(std::move(socket), *this);
            {
                std::lock_guard lock(sessions_mutex);
                std::erase_if(sessions, [](const auto& w) { return w.expired(); });
                sessions.push_back(session);
            }
            session->start();
        } else {
            spdlog::warn("accept: {}", ec.message());
        }
        accept();
    });
}

void Server::Impl::submit(std::shared_ptr<Session> session, Request request) {
    if (metrics.queue_depth.fetch_add(1) >= static_cast<std::int64_t>(options.queue_limit)) {
        metrics.queue_depth.fetch_sub(1);
        return session->respond(error_response(ApiError(http::status::service_unavailable, "overloaded",
                                                        "the server is at capacity; retry shortly"),
                                               request.version(), request.keep_alive()));
    }
    // The work guard keeps the I/O threads running until the answer is posted back.
    auto task = [this, session, request = std::make_shared<Request>(std::move(request)),
                 guard = net::make_work_guard(ioc)] {
        Response res = handler.handle(*request);
        metrics.queue_depth.fetch_sub(1);
        net::post(session->executor(), [session, res = std::make_shared<Response>(std::move(res))] { session->respond(std::move(*res)); });
    };
    workers.enqueue(std::move(task));
}

void Server::Impl::begin_stop() {
    if (stopping.exchange(true)) return;
    spdlog::info("stopping: no new connections; finishing requests in flight");
    beast::error_code ec;
    acceptor.close(ec);
    signals.cancel(ec);
    std::lock_guard lock(sessions_mutex);
    for (const auto& w : sessions)
        if (auto s = w.lock()) net::post(s->executor(), [s] { s->close_if_idle(); });
}

Server::Server(Handler& handler, Metrics& metrics, ServerOptions options)
    : impl_(std::make_unique<Impl>(handler, metrics, std::move(options))) {}

Server::~Server() = default;

unsigned short Server::port() const { return impl_->acceptor.local_endpoint().port(); }

void Server::stop_on_signals() {
    impl_->signals.add(SIGINT);
    impl_->signals.add(SIGTERM);
    impl_->signals.async_wait([this](beast::error_code ec, int signal) {
        if (ec) return;
        spdlog::info("signal {} received", signal);
        stop();
    });
}

void Server::run() {
    impl_->accept();
    std::vector<std::thread> threads;
    for (int i = 1; i < impl_->options.io_threads; ++i) threads.emplace_back([this] { impl_->ioc.run(); });
    impl_->ioc.run();
    for (auto& t : threads) t.join();
}

void Server::stop() {
    net::post(impl_->ioc, [impl = impl_.get()] { impl->begin_stop(); });
}

bool Server::stopping() const { return impl_->stopping.load(); }

}  // namespace neardup::server
