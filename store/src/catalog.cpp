#include "neardup/store/catalog.hpp"

namespace neardup::store {

bool has_labels(const Labels& have, const Labels& want) {
    for (const auto& [name, value] : want) {
        const auto it = have.find(name);
        if (it == have.end() || it->second != value) return false;
    }
    return true;
}

bool is_postgres_url(const std::string& address) { return address.starts_with("postgresql://") || address.starts_with("postgres://"); }

}  // namespace neardup::store
