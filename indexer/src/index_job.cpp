#include "neardup/indexer/index_job.hpp"

#include <fstream>
#include <memory>
#include <sstream>
#include <unordered_map>

#include <tbb/parallel_pipeline.h>

#include "neardup/indexer/image_files.hpp"

namespace neardup::indexer {
namespace {

std::vector<std::string> split_csv_line(const std::string& line, std::size_t line_number) {
    if (line.find('"') != std::string::npos)
        throw std::runtime_error("manifest line " + std::to_string(line_number) + ": quoted fields are not supported");
    std::vector<std::string> out;
    std::stringstream ss(line);
    std::string field;
    while (std::getline(ss, field, ',')) out.push_back(field);
    if (!line.empty() && line.back() == ',') out.emplace_back();
    return out;
}

}  // namespace

std::vector<IndexInput> read_manifest(const std::filesystem::path& csv) {
    std::ifstream in(csv);
    if (!in) throw std::runtime_error("cannot open manifest " + csv.string());
    std::string line;
    std::size_t n = 1;
    if (!std::getline(in, line)) throw std::runtime_error("manifest " + csv.string() + " is empty");
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto header = split_csv_line(line, n);
    if (header.size() < 2 || header[0] != "key" || header[1] != "path")
        throw std::runtime_error("manifest line 1: header must start with key,path");
    std::vector<IndexInput> out;
    while (std::getline(in, line)) {
        ++n;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        const auto fields = split_csv_line(line, n);
        if (fields.size() != header.size())
            throw std::runtime_error("manifest line " + std::to_string(n) + ": " + std::to_string(fields.size()) +
                                     " fields, header has " + std::to_string(header.size()));
        if (fields[0].empty() || fields[1].empty())
            throw std::runtime_error("manifest line " + std::to_string(n) + ": empty key or path");
        IndexInput input{fields[0], fields[1], {}};
        if (input.path.is_relative()) input.path = csv.parent_path() / input.path;
        for (std::size_t c = 2; c < header.size(); ++c)
            if (!fields[c].empty()) input.labels[header[c]] = fields[c];
        out.push_back(std::move(input));
    }
    return out;
}

std::vector<IndexInput> inputs_from_files(const std::vector<std::filesystem::path>& files, const store::Labels& labels) {
    std::vector<IndexInput> out;
    out.reserve(files.size());
    for (const auto& f : files) out.push_back({f.stem().string(), f, labels});
    return out;
}

IndexSummary run_index_job(store::Store& store, const std::vector<IndexInput>& inputs, const IndexJobOptions& options,
                           const std::function<void(const IndexEvent&)>& on_event) {
    struct Item {
        const IndexInput* input;
        IndexOutcome outcome = IndexOutcome::failed;
        Error error{ErrorCode::io_error, ""};
        std::optional<store::PreparedAdd> prepared;
    };
    using ItemPtr = std::shared_ptr<Item>;
    IndexSummary summary;
    std::vector<store::PreparedAdd> batch;
    std::vector<ItemPtr> pending_events;  // reported once their batch is durable
    std::unordered_map<std::string, std::filesystem::path> keys_seen;
    std::size_t since_snapshot = 0;
    std::size_t next = 0;

    std::vector<ItemPtr> batch_items;  // the item of each add in `batch`
    auto flush = [&] {
        if (!batch.empty()) {
            since_snapshot += batch.size();
            // Another writer of a shared catalog may have added some of these keys since they were planned.
            const auto statuses = store.commit_resolving(std::move(batch));
            for (std::size_t i = 0; i < statuses.size(); ++i) {
                Item& item = *batch_items[i];
                if (statuses[i] != store::AddStatus::unchanged && statuses[i] != store::AddStatus::conflict) continue;
                --(item.outcome == IndexOutcome::replaced ? summary.replaced : summary.added);
                if (statuses[i] == store::AddStatus::unchanged) {
                    item.outcome = IndexOutcome::unchanged;
                    ++summary.unchanged;
                } else {
                    item.outcome = IndexOutcome::failed;
                    item.error = make_error(ErrorCode::conflict, "key '" + item.input->key +
                                                                     "' was added meanwhile, by another writer, with a different image (use --replace)");
                    ++summary.failed;
                }
            }
            batch.clear();
            batch_items.clear();
        }
        for (const auto& item : pending_events) on_event({item->input, item->outcome, item->error});
        pending_events.clear();
        if (since_snapshot >= options.snapshot_every) {
            store.save_snapshot();
            since_snapshot = 0;
        }
    };

    tbb::parallel_pipeline(
        options.max_in_flight,
        tbb::make_filter<void, ItemPtr>(tbb::filter_mode::serial_in_order,
                                        [&](tbb::flow_control& fc) -> ItemPtr {
                                            if (next >= inputs.size()) {
                                                fc.stop();
                                                return nullptr;
                                            }
                                            auto item = std::make_shared<Item>();
                                            item->input = &inputs[next++];
                                            // The same key twice in one run would race the catalog's
                                            // uniqueness: the second occurrence fails, named.
                                            auto [it, fresh] = keys_seen.emplace(item->input->key, item->input->path);
                                            if (!fresh) {
                                                item->error = make_error(ErrorCode::conflict,
                                                    "key '" + item->input->key + "' given twice (also " + it->second.string() + ")");
                                                return item;  // outcome stays failed
                                            }
                                            item->outcome = IndexOutcome::added;
                                            return item;
                                        }) &
            tbb::make_filter<ItemPtr, ItemPtr>(tbb::filter_mode::parallel,
                                               [&](ItemPtr item) {
                                                   if (item->outcome == IndexOutcome::failed) return item;
                                                   auto bytes = read_file(item->input->path, options.max_file_bytes);
                                                   if (!bytes) {
                                                       item->outcome = IndexOutcome::failed;
                                                       item->error = bytes.error();
                                                       return item;
                                                   }
                                                   const auto sha = store::sha256_of(bytes.value());
                                                   const auto plan = store.plan(item->input->key, sha, options.replace);
                                                   if (plan == store::AddStatus::unchanged) {
                                                       item->outcome = IndexOutcome::unchanged;
                                                       return item;
                                                   }
                                                   if (plan == store::AddStatus::conflict) {
                                                       item->outcome = IndexOutcome::failed;
                                                       item->error = make_error(ErrorCode::conflict,
                                                           "key '" + item->input->key + "' already holds a different image (use --replace)");
                                                       return item;
                                                   }
                                                   auto prepared = store.prepare(item->input->key, bytes.value(), sha, item->input->labels,
                                                                                 plan == store::AddStatus::replaced);
                                                   if (!prepared) {
                                                       item->outcome = IndexOutcome::failed;
                                                       item->error = prepared.error();
                                                       return item;
                                                   }
                                                   item->outcome = plan == store::AddStatus::replaced ? IndexOutcome::replaced : IndexOutcome::added;
                                                   item->prepared = std::move(prepared).value();
                                                   item->prepared->entry.source = std::filesystem::absolute(item->input->path).string();
                                                   return item;
                                               }) &
            tbb::make_filter<ItemPtr, void>(tbb::filter_mode::serial_in_order, [&](ItemPtr item) {
                switch (item->outcome) {
                    case IndexOutcome::added: ++summary.added; break;
                    case IndexOutcome::replaced: ++summary.replaced; break;
                    case IndexOutcome::unchanged: ++summary.unchanged; break;
                    case IndexOutcome::failed: ++summary.failed; break;
                }
                if (item->prepared) {
                    batch.push_back(std::move(*item->prepared));
                    batch_items.push_back(item);
                }
                item->prepared.reset();
                pending_events.push_back(item);
                if (batch.size() >= options.batch_size || pending_events.size() >= 4 * options.batch_size) flush();
            }));
    flush();
    store.optimise();
    store.save_snapshot();
    return summary;
}

}  // namespace neardup::indexer
