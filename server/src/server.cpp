#include "neardup/server/server.hpp"

#include <algorithm>
#include <array>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
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
    std::atomic<std::size_t> connections{0};
    unsigned short port = 0;
    std::mutex sessions_mutex;
    std::vector<std::weak_ptr<Session>> sessions;

    Impl(Handler& h, Metrics& m, ServerOptions o);
    void accept();
    void submit(std::shared_ptr<Session> session, Request request);
    void begin_stop();
};

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, Server::Impl& server)
        : stream_(std::move(socket)), timer_(stream_.get_executor()), server_(server) {
        server_.connections.fetch_add(1);
    }
    ~Session() { server_.connections.fetch_sub(1); }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

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

    // Answers the current request; `close` closes the connection afterwards (the body may be unread).
    void respond(Response res, bool close = false) {
        const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
        server_.metrics.observe(route_.pattern, method_, res.result_int(), seconds);
        server_.metrics.in_flight.fetch_sub(1);
        if (server_.stopping.load()) close = true;
        if (close) res.keep_alive(false);
        if (res.result_int() >= 500 && res.result() != http::status::service_unavailable)  // 503: expected, in the metrics
            spdlog::warn("{} {} -> {}", method_, target_, res.result_int());
        else spdlog::debug("{} {} -> {} in {:.1f} ms", method_, target_, res.result_int(), seconds * 1e3);
        auto message = std::make_shared<Response>(std::move(res));
        stream_.expires_after(server_.options.write_timeout);
        http::async_write(stream_, *message, [self = shared_from_this(), message](beast::error_code ec, std::size_t) {
            self->stream_.expires_never();
            if (ec) return self->shutdown();
            if (!message->keep_alive()) return self->linger();
            self->read_header();
        });
    }

private:
    // Reads are timed by our own timer, which cancels the read (so that a 408 can still be written); Beast's
    // stream timeout would close the socket.
    void arm(std::chrono::milliseconds timeout) {
        timed_out_ = false;
        timer_.expires_after(timeout);
        timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
            if (ec) return;  // cancelled: the read finished first
            self->timed_out_ = true;
            beast::error_code ignored;
            self->stream_.socket().cancel(ignored);
        });
    }

    void read_header() {
        if (server_.stopping.load()) return shutdown();
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(server_.options.header_limit));
        parser_->body_limit(server_.handler.body_limit());
        refusal_.reset();
        idle_ = true;
        arm(server_.options.header_timeout);
        http::async_read_header(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            self->timer_.cancel();
            self->on_header(ec);
        });
    }

    void begin_request(std::string_view method, std::string_view target) {
        idle_ = false;
        start_ = Clock::now();
        method_ = std::string(method);
        target_ = std::string(target.substr(0, 200));
        server_.metrics.in_flight.fetch_add(1);
    }

    // A request that could not be read in full. Answered (and the connection closed) unless nothing of it
    // arrived (an idle keep-alive connection timed out, or was closed for shutdown) or the client left.
    void fail_read(beast::error_code ec, bool header_done) {
        const bool client_left = ec == http::error::end_of_stream || ec == http::error::partial_message || ec == net::error::eof ||
                                 ec == net::error::connection_reset || ec == net::error::broken_pipe;
        const bool timed_out = timed_out_ && ec == net::error::operation_aborted;
        if (!header_done && (!parser_->got_some() || client_left || (ec == net::error::operation_aborted && !timed_out)))
            return shutdown();
        if (header_done && (client_left || (ec == net::error::operation_aborted && !timed_out))) return abandon();
        if (!header_done) {
            begin_request("?", "?");
            route_ = Route{"unmatched", false};
        }
        ApiError error(http::status::bad_request, "bad_request", "malformed request: " + ec.message());
        if (timed_out)
            error = ApiError(http::status::request_timeout, "request_timeout", "the request was not received in time");
        else if (ec == http::error::body_limit)
            error = ApiError(http::status::payload_too_large, "payload_too_large",
                             "the body is over the limit of " + std::to_string(server_.handler.body_limit()) + " bytes");
        else if (ec == http::error::header_limit)
            error = ApiError(http::status::request_header_fields_too_large, "header_too_large",
                             "the request headers are over " + std::to_string(server_.options.header_limit) + " bytes");
        respond(error_response(error, 11, false), true);
    }

    void on_header(beast::error_code ec) {
        if (ec) return fail_read(ec, false);
        const RequestHeader& header = parser_->get();
        begin_request(sv(header.method_string()), sv(header.target()));
        route_ = server_.handler.route(header);
        if (auto refused = server_.handler.precheck(header)) {
            // A body over the limit is not read: answer and close. Other refusals read (and drop) the body
            // so that the connection can go on.
            if (refused->result() == http::status::payload_too_large) return respond(std::move(*refused), true);
            refusal_ = std::move(*refused);
        } else if (beast::iequals(header[http::field::expect], "100-continue")) {
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
        arm(server_.options.body_timeout);
        http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            self->timer_.cancel();
            self->on_body(ec);
        });
    }

    void on_body(beast::error_code ec) {
        if (ec) return fail_read(ec, true);
        Request request = parser_->release();
        if (refusal_) {
            refusal_->keep_alive(request.keep_alive());
            return respond(std::move(*refusal_));
        }
        if (route_.on_worker) return server_.submit(shared_from_this(), std::move(request));
        respond(server_.handler.handle(request));
    }

    // The client went away mid-request: nothing to answer.
    void abandon() {
        server_.metrics.in_flight.fetch_sub(1);
        shutdown();
    }

    // Closing with unread input would reset the connection and could destroy the answer before the client
    // reads it: stop sending, then drain what the client still sends for a moment before closing.
    void linger() {
        idle_ = false;
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        if (ec) return shutdown();
        lingered_ = 0;
        arm(std::chrono::milliseconds(1000));
        drain();
    }
    void drain() {
        auto scratch = std::make_shared<std::array<char, 16384>>();
        stream_.async_read_some(net::buffer(*scratch), [self = shared_from_this(), scratch](beast::error_code ec, std::size_t n) {
            self->lingered_ += n;
            if (ec || self->lingered_ > self->server_.handler.body_limit() + (1u << 20)) {
                self->timer_.cancel();
                return self->shutdown();
            }
            self->drain();
        });
    }

    void shutdown() {
        idle_ = false;
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        stream_.close();
    }

    beast::tcp_stream stream_;
    net::steady_timer timer_;
    Server::Impl& server_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::optional<Response> refusal_;  // decided on the headers, answered once the body is read
    bool idle_ = false;
    bool timed_out_ = false;
    std::size_t lingered_ = 0;
    Clock::time_point start_;
    Route route_{"unmatched", false};
    std::string method_, target_;
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
    port = acceptor.local_endpoint().port();
    handler.server_gauges = [this] {
        return std::vector<Gauge>{{"neardup_work_queue_capacity", "Requests the worker pool queue holds before answering 503.",
                                   double(options.queue_limit)},
                                  {"neardup_http_connections", "Open client connections.", double(connections.load())}};
    };
}

void Server::Impl::accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
        if (!ec && connections.load() >= options.max_connections) {
            spdlog::warn("{} connections open: closing a new one", connections.load());
            beast::error_code ignored;
            socket.close(ignored);
        } else if (!ec) {
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
    // oneTBB runs the task as a const functor: what it hands on lives in a Job. The session moves on to the
    // posted answer: were it still held here when the guard goes, run() could return and the server be
    // destroyed while this thread still ends the session.
    struct Job {
        std::shared_ptr<Session> session;
        Request request;
    };
    auto job = std::make_shared<Job>(Job{std::move(session), std::move(request)});
    auto task = [this, job, guard = net::make_work_guard(ioc)] {
        Response res = handler.handle(job->request);
        job->request = {};
        metrics.queue_depth.fetch_sub(1);
        const auto executor = job->session->executor();
        net::post(executor, [session = std::move(job->session), res = std::make_shared<Response>(std::move(res))] {
            session->respond(std::move(*res));
        });
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

unsigned short Server::port() const { return impl_->port; }

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
