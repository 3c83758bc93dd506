#include "support/postgres_server.hpp"

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include <libpq-fe.h>
#include <unistd.h>

namespace neardup::test {
namespace {

std::string read_all(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// The newest Debian server binaries (/usr/lib/postgresql/<version>/bin).
std::string server_bin() {
    std::filesystem::path best;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
        const auto bin = e.path() / "bin";
        // Versions compare as numbers: 16 is newer than 9.6.
        const auto version = [](const std::filesystem::path& p) { return std::atof(p.filename().c_str()); };
        if (std::filesystem::exists(bin / "initdb") && (best.empty() || version(e.path()) > version(best.parent_path()))) best = bin;
    }
    if (best.empty()) throw std::runtime_error("no PostgreSQL server under /usr/lib/postgresql (Debian package postgresql; scripts/install-deps.sh installs it)");
    return best.string();
}

void run(const std::string& command, const std::filesystem::path& log) {
    if (std::system((command + " >>'" + log.string() + "' 2>&1").c_str()) != 0)
        throw std::runtime_error("`" + command + "` failed:\n" + read_all(log));
}

}  // namespace

PostgresServer& PostgresServer::shared() {
    static PostgresServer server;
    return server;
}

PostgresServer::PostgresServer() : bin_(server_bin()) {
    std::random_device rd;
    // Short: a unix socket path must fit in 107 bytes.
    dir_ = std::filesystem::path("/tmp") / ("neardup-pg-" + std::to_string(rd() % 1000000000u));
    std::filesystem::create_directories(dir_);
    if (geteuid() == 0) {
        // PostgreSQL refuses to run as root: the directory goes to the postgres user the package created.
        std::filesystem::permissions(dir_, std::filesystem::perms::owner_all);
        if (std::system(("chown postgres: '" + dir_.string() + "'").c_str()) != 0) throw std::runtime_error("cannot chown " + dir_.string() + " to postgres");
        as_owner_ = "runuser -u postgres -- ";
    }
    const auto log = dir_ / "setup.log";
    { std::ofstream touch(log); }
    if (geteuid() == 0) std::system(("chown postgres: '" + log.string() + "'").c_str());
    run(as_owner_ + bin_ + "/initdb --pgdata='" + (dir_ / "data").string() + "' --username=neardup --auth=trust --encoding=UTF8 --no-sync", log);
    // fsync off: a test server's durability is not under test (the catalog's transactions are).
    run(as_owner_ + bin_ + "/pg_ctl --pgdata='" + (dir_ / "data").string() + "' --log='" + (dir_ / "server.log").string() +
            "' --wait --options=\"-c listen_addresses='' -c unix_socket_directories='" + dir_.string() + "' -c fsync=off -c max_connections=200\" start",
        log);
}

PostgresServer::~PostgresServer() {
    std::system((as_owner_ + bin_ + "/pg_ctl --pgdata='" + (dir_ / "data").string() + "' --mode=immediate --wait stop >/dev/null 2>&1").c_str());
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

std::string PostgresServer::url(const std::string& name) const { return "postgresql://neardup@/" + name + "?host=" + dir_.string(); }

std::string PostgresServer::fresh_database() {
    static std::mutex mutex;
    std::lock_guard lock(mutex);
    const std::string name = "test" + std::to_string(++databases_);
    run(bin_ + "/createdb --host='" + dir_.string() + "' --username=neardup " + name, dir_ / "client.log");
    return url(name);
}

void PostgresServer::execute(const std::string& url, const std::string& sql) const {
    PGconn* conn = PQconnectdb(url.c_str());
    PGresult* r = PQstatus(conn) == CONNECTION_OK ? PQexec(conn, sql.c_str()) : nullptr;
    const bool ok = r && (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
    const std::string error = PQerrorMessage(conn);
    PQclear(r);
    PQfinish(conn);
    if (!ok) throw std::runtime_error("`" + sql + "` on " + url + ": " + error);
}

}  // namespace neardup::test
