// A PostgreSQL server of the tests' own: Debian's initdb in a temporary directory, reached over a unix socket
// there (no TCP port, no system service), stopped and removed when the test process ends.
#pragma once

#include <filesystem>
#include <string>

namespace neardup::test {

class PostgresServer {
public:
    // One server per test process, started on first use (about 2 s). Throws std::runtime_error, with the
    // server's log, when it cannot start; as root the server runs as the `postgres` user (it refuses root).
    static PostgresServer& shared();

    // A database no other test has used, as a postgresql:// URI.
    std::string fresh_database();
    // The URI of database `name` on this server.
    std::string url(const std::string& name) const;
    // Runs SQL on database `url` as the server's superuser (what a test does behind the catalog's back).
    void execute(const std::string& url, const std::string& sql) const;
    const std::filesystem::path& socket_dir() const { return dir_; }

    ~PostgresServer();
    PostgresServer(const PostgresServer&) = delete;
    PostgresServer& operator=(const PostgresServer&) = delete;

private:
    PostgresServer();
    std::filesystem::path dir_;  // data/ and the socket
    std::string bin_;            // the server's bin directory
    std::string as_owner_;       // command prefix that runs as the data directory's owner
    int databases_ = 0;
};

}  // namespace neardup::test
