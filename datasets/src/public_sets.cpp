#include "neardup/datasets/public_sets.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace neardup::datasets {
namespace fs = std::filesystem;
namespace {

[[noreturn]] void fail(const std::string& set, const std::string& what) { throw DatasetLayoutError(set + ": " + what); }

bool is_image(const fs::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

std::vector<fs::path> images_in(const fs::path& dir, bool recursive) {
    std::vector<fs::path> out;
    if (recursive) {
        for (const auto& e : fs::recursive_directory_iterator(dir))
            if (e.is_regular_file() && is_image(e.path())) out.push_back(e.path());
    } else {
        for (const auto& e : fs::directory_iterator(dir))
            if (e.is_regular_file() && is_image(e.path())) out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

bool all_digits(const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// The number a file is named by ("200100.jpg" -> 200100), or an error naming the file.
long number_of(const std::string& set, const fs::path& p, std::size_t skip_prefix = 0) {
    const std::string stem = p.stem().string();
    const std::string digits = stem.size() > skip_prefix ? stem.substr(skip_prefix) : "";
    if (!all_digits(digits)) fail(set, p.string() + ": file name is not a number as the set names its images");
    return std::stol(digits);
}

void require_dir(const std::string& set, const fs::path& dir) {
    if (!fs::is_directory(dir)) fail(set, dir.string() + ": no such folder");
}

void sort_dataset(LoadedDataset& d) {
    const auto by_id = [](const DatasetImage& a, const DatasetImage& b) { return a.id < b.id; };
    std::sort(d.references.begin(), d.references.end(), by_id);
    std::sort(d.queries.begin(), d.queries.end(), by_id);
    std::sort(d.ground_truth.begin(), d.ground_truth.end(), [](const GroundTruthPair& a, const GroundTruthPair& b) {
        return std::tie(a.query_id, a.reference_id) < std::tie(b.query_id, b.reference_id);
    });
}

// Folder with the images: `<root>/<sub>` when it exists, else root.
fs::path image_folder(const std::string& set, const fs::path& root, const std::string& sub) {
    require_dir(set, root);
    return fs::is_directory(root / sub) ? root / sub : root;
}

std::vector<std::string> split_csv_line(const std::string& line) {
    std::vector<std::string> out;
    std::string field;
    std::istringstream in(line);
    while (std::getline(in, field, ',')) {
        if (!field.empty() && field.back() == '\r') field.pop_back();
        out.push_back(field);
    }
    if (!line.empty() && line.back() == ',') out.emplace_back();
    return out;
}

// A DISC21-format ground truth: header `query_id,reference_id`, one row per query or matching pair.
std::vector<GroundTruthPair> read_ground_truth_csv(const std::string& set, const fs::path& csv, std::set<std::string>& queries_seen) {
    std::ifstream in(csv);
    if (!in) fail(set, csv.string() + ": missing ground truth file");
    std::string line;
    if (!std::getline(in, line)) fail(set, csv.string() + ": empty file, expected header query_id,reference_id");
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line != "query_id,reference_id") fail(set, csv.string() + ": header is '" + line + "', expected query_id,reference_id");
    std::vector<GroundTruthPair> out;
    int number = 1;
    while (std::getline(in, line)) {
        ++number;
        if (line.empty() || line == "\r") continue;
        const auto f = split_csv_line(line);
        if (f.size() != 2 || f[0].empty())
            fail(set, csv.string() + " line " + std::to_string(number) + ": expected query_id,reference_id, found '" + line + "'");
        queries_seen.insert(f[0]);
        if (!f[1].empty()) out.push_back({f[0], f[1]});
    }
    return out;
}

void check_ids(const std::string& set, const fs::path& csv, const LoadedDataset& d, const std::set<std::string>& gt_queries) {
    std::set<std::string> q, r;
    for (const auto& x : d.queries) q.insert(x.id);
    for (const auto& x : d.references) r.insert(x.id);
    for (const auto& id : gt_queries)
        if (!q.count(id)) fail(set, csv.string() + ": query " + id + " has no image");
    for (const auto& p : d.ground_truth)
        if (!r.count(p.reference_id)) fail(set, csv.string() + ": reference " + p.reference_id + " (for query " + p.query_id + ") has no image");
}

}  // namespace

LoadedDataset load_copydays(const fs::path& root) {
    const std::string set = "copydays";
    require_dir(set, root);
    const fs::path originals = root / "original";
    require_dir(set, originals);
    LoadedDataset d;
    d.name = set;
    std::map<long, std::string> original_of_block;
    for (const auto& p : images_in(originals, false)) {
        const long n = number_of(set, p);
        if (n % 100 != 0) fail(set, p.string() + ": an original's number ends in 00");
        original_of_block[n / 100] = p.stem().string();
        d.references.push_back({p.stem().string(), p});
    }
    if (d.references.empty()) fail(set, originals.string() + ": no original images");
    for (const auto& e : fs::recursive_directory_iterator(root)) {
        if (!e.is_regular_file() || !is_image(e.path())) continue;
        const fs::path rel = fs::relative(e.path(), root);
        if (*rel.begin() == "original") continue;
        const long n = number_of(set, e.path());
        const auto it = original_of_block.find(n / 100);
        if (it == original_of_block.end())
            fail(set, e.path().string() + ": no original " + std::to_string(n / 100) + "00 for this image");
        std::string id = (rel.parent_path() / rel.stem()).generic_string();
        std::replace(id.begin(), id.end(), '/', '_');
        d.queries.push_back({id, e.path()});
        d.ground_truth.push_back({id, it->second});
    }
    if (d.queries.empty()) fail(set, root.string() + ": no attacked images next to original/");
    sort_dataset(d);
    return d;
}

LoadedDataset load_holidays(const fs::path& root) {
    const std::string set = "holidays";
    const fs::path dir = image_folder(set, root, "jpg");
    std::map<long, std::vector<fs::path>> groups;
    for (const auto& p : images_in(dir, false)) groups[number_of(set, p) / 100].push_back(p);
    if (groups.empty()) fail(set, dir.string() + ": no images");
    LoadedDataset d;
    d.name = set;
    for (auto& [block, files] : groups) {
        std::sort(files.begin(), files.end(), [&](const fs::path& a, const fs::path& b) { return number_of(set, a) < number_of(set, b); });
        if (files.size() < 2) fail(set, files[0].string() + ": group " + std::to_string(block) + " has a query and no other image");
        const std::string q = files[0].stem().string();
        d.queries.push_back({q, files[0]});
        for (std::size_t k = 1; k < files.size(); ++k) {
            d.references.push_back({files[k].stem().string(), files[k]});
            d.ground_truth.push_back({q, files[k].stem().string()});
        }
    }
    sort_dataset(d);
    return d;
}

LoadedDataset load_ukbench(const fs::path& root) {
    const std::string set = "ukbench";
    const fs::path dir = image_folder(set, root, "full");
    std::map<long, std::vector<std::pair<long, fs::path>>> groups;
    for (const auto& p : images_in(dir, false)) {
        if (p.stem().string().rfind("ukbench", 0) != 0) fail(set, p.string() + ": file name does not start with ukbench");
        const long n = number_of(set, p, 7);
        groups[n / 4].push_back({n, p});
    }
    if (groups.empty()) fail(set, dir.string() + ": no images");
    LoadedDataset d;
    d.name = set;
    for (const auto& [g, members] : groups) {
        if (members.size() != 4)
            fail(set, dir.string() + ": object " + std::to_string(g) + " has " + std::to_string(members.size()) + " images, expected 4");
        for (const auto& [n, p] : members) {
            d.references.push_back({p.stem().string(), p});
            d.queries.push_back({p.stem().string(), p});
            for (const auto& [m, other] : members) d.ground_truth.push_back({p.stem().string(), other.stem().string()});
        }
    }
    sort_dataset(d);
    return d;
}

LoadedDataset load_california_nd(const fs::path& root, double threshold) {
    const std::string set = "california-nd";
    const fs::path photos = root / "Photos";
    require_dir(set, root);
    require_dir(set, photos);
    const auto files = images_in(photos, false);
    if (files.empty()) fail(set, photos.string() + ": no images");
    const fs::path matrix_file = root / "similarity.csv";
    std::ifstream in(matrix_file);
    if (!in) fail(set, matrix_file.string() + ": missing similarity matrix");
    std::vector<std::vector<double>> m;
    std::string line;
    while (std::getline(in, line)) {
        std::replace(line.begin(), line.end(), ',', ' ');
        std::istringstream row(line);
        std::vector<double> values;
        std::string token;
        while (row >> token) {
            try {
                std::size_t used = 0;
                values.push_back(std::stod(token, &used));
                if (used != token.size()) throw std::invalid_argument(token);
            } catch (const std::exception&) {
                fail(set, matrix_file.string() + " row " + std::to_string(m.size() + 1) + ": '" + token + "' is not a number");
            }
        }
        if (!values.empty()) m.push_back(std::move(values));
    }
    const std::size_t n = files.size();
    if (m.size() != n) fail(set, matrix_file.string() + ": " + std::to_string(m.size()) + " rows for " + std::to_string(n) + " photos");
    for (std::size_t i = 0; i < n; ++i)
        if (m[i].size() != n)
            fail(set, matrix_file.string() + " row " + std::to_string(i + 1) + ": " + std::to_string(m[i].size()) + " values for " +
                          std::to_string(n) + " photos");
    LoadedDataset d;
    d.name = set;
    for (std::size_t i = 0; i < n; ++i) {
        const std::string id = files[i].stem().string();
        d.references.push_back({id, files[i]});
        d.queries.push_back({id, files[i]});
        for (std::size_t j = 0; j < n; ++j)
            if (i != j && m[i][j] >= threshold) d.ground_truth.push_back({id, files[j].stem().string()});
    }
    sort_dataset(d);
    return d;
}

LoadedDataset load_disc21_dev(const fs::path& root) {
    const std::string set = "disc21";
    require_dir(set, root);
    require_dir(set, root / "dev_queries");
    require_dir(set, root / "references");
    LoadedDataset d;
    d.name = set;
    const auto named = [](const fs::path& p, char letter, std::size_t digits) {
        const std::string s = p.stem().string();
        return s.size() == digits + 1 && s[0] == letter && all_digits(s.substr(1));
    };
    for (const auto& p : images_in(root / "dev_queries", true))
        if (named(p, 'Q', 5)) d.queries.push_back({p.stem().string(), p});
    for (const auto& p : images_in(root / "references", true))
        if (named(p, 'R', 6)) d.references.push_back({p.stem().string(), p});
    if (d.queries.empty()) fail(set, (root / "dev_queries").string() + ": no query images named QNNNNN.jpg");
    if (d.references.empty()) fail(set, (root / "references").string() + ": no reference images named RNNNNNN.jpg");
    std::set<std::string> gt_queries;
    const fs::path csv = root / "dev_ground_truth.csv";
    d.ground_truth = read_ground_truth_csv(set, csv, gt_queries);
    check_ids(set, csv, d, gt_queries);
    sort_dataset(d);
    return d;
}

LoadedDataset load_offline_benchmark(const fs::path& root) {
    const std::string set = "offline-benchmark";
    require_dir(set, root);
    require_dir(set, root / "references");
    require_dir(set, root / "queries");
    LoadedDataset d;
    d.name = set;
    for (const auto& p : images_in(root / "references", false)) d.references.push_back({p.stem().string(), p});
    for (const auto& p : images_in(root / "queries", false)) d.queries.push_back({p.stem().string(), p});
    std::set<std::string> gt_queries;
    const fs::path csv = root / "ground_truth.csv";
    d.ground_truth = read_ground_truth_csv(set, csv, gt_queries);
    check_ids(set, csv, d, gt_queries);
    sort_dataset(d);
    return d;
}

}  // namespace neardup::datasets
