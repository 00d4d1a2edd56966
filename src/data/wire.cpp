#include "data/wire.hpp"

#include "core/json.hpp"

namespace fedmesh::data {

using json = nlohmann::json;

namespace {

// Counts a body's JSON values without building them, and stops at `limit`: a message of
// 16 MiB of `{},` would otherwise become millions of objects before any count is checked.
class ValueCounter : public nlohmann::json_sax<json> {
 public:
  explicit ValueCounter(std::size_t limit) : limit_(limit) {}
  bool over() const { return n_ > limit_; }
  bool null() override { return more(); }
  bool boolean(bool) override { return more(); }
  bool number_integer(number_integer_t) override { return more(); }
  bool number_unsigned(number_unsigned_t) override { return more(); }
  bool number_float(number_float_t, const string_t&) override { return more(); }
  bool string(string_t&) override { return more(); }
  bool binary(binary_t&) override { return more(); }
  bool start_object(std::size_t) override { return more(); }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return more(); }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  bool more() { return ++n_ <= limit_; }
  std::size_t limit_;
  std::size_t n_ = 0;
};

// A delta is about 20 values (up to 32 with an audit path), a run 7, a creator 1.
constexpr std::size_t kMaxMessageValues = kMaxMessageDeltas * 40 + kMaxMessageRuns * 8 + kMaxMessageCreators + 16;

}  // namespace

Result<WireBatch> decode_batch(std::string_view body) {
  ValueCounter counter(kMaxMessageValues);
  (void)json::sax_parse(body.begin(), body.end(), &counter, json::input_format_t::json, false);
  if (counter.over())
    return make_error(ErrorCode::payload_too_large, "a message carries at most 1024 runs and 8192 deltas");
  auto parsed = parse_json_object(body, 8);
  if (!parsed) return std::move(parsed).error();
  const json& j = *parsed;
  for (const auto& [k, _] : j.items())
    if (k != "creators" && k != "runs" && k != "deltas")
      return make_error(ErrorCode::bad_json, "unknown member '" + k.substr(0, 64) + "' (creators, runs, deltas)");
  WireBatch out;
  if (auto c = j.find("creators"); c != j.end()) {
    if (!c->is_object()) return make_error(ErrorCode::bad_json, "'creators' must map names to PEM certificates");
    if (c->size() > kMaxMessageCreators) return make_error(ErrorCode::payload_too_large, "more than 256 creators");
    for (const auto& [name, cert] : c->items()) {
      if (!cert.is_string() || cert.get_ref<const std::string&>().size() > 16384)
        return make_error(ErrorCode::bad_json, "creators['" + name.substr(0, 64) + "'] must be a PEM certificate");
      out.creators[name] = cert.get<std::string>();
    }
  }
  static const json kNone = json::array();
  const json& runs = j.contains("runs") ? j["runs"] : kNone;  // no copy of either list
  const json& deltas = j.contains("deltas") ? j["deltas"] : kNone;
  if (!runs.is_array() || !deltas.is_array())
    return make_error(ErrorCode::bad_json, "'runs' and 'deltas' must be lists");
  if (runs.size() > kMaxMessageRuns || deltas.size() > kMaxMessageDeltas)
    return make_error(ErrorCode::payload_too_large, "a message carries at most 1024 runs and 8192 deltas");
  for (std::size_t i = 0; i < runs.size(); ++i) {
    auto r = run_from_json(runs[i]);
    if (!r) return make_error(ErrorCode::bad_json, "runs[" + std::to_string(i) + "]: " + r.error().message());
    out.runs.push_back(std::move(*r));
  }
  out.deltas.reserve(deltas.size());
  for (std::size_t i = 0; i < deltas.size(); ++i) {
    auto d = delta_from_json(deltas[i]);
    if (!d) return make_error(ErrorCode::bad_json, "deltas[" + std::to_string(i) + "]: " + d.error().message());
    WireDelta w{std::move(*d), {}};
    if (auto p = deltas[i].find("proof"); p != deltas[i].end()) {
      if (!p->is_array() || p->size() > 16)
        return make_error(ErrorCode::bad_json,
                          "deltas[" + std::to_string(i) + "]: 'proof' must list at most 16 hashes");
      for (const auto& h : *p) {
        auto hash =
            h.is_string() ? id_from_hex(h.get<std::string>()) : Result<DeltaId>(make_error(ErrorCode::bad_json, ""));
        if (!hash)
          return make_error(ErrorCode::bad_json, "deltas[" + std::to_string(i) + "]: 'proof' holds a non-hash");
        w.proof.push_back(*hash);
      }
    }
    out.deltas.push_back(std::move(w));
  }
  return out;
}

std::string encode_batch(const std::map<std::string, std::string>& creators, const std::vector<RunRecord>& runs,
                         const std::vector<DeltaRecord>& deltas,
                         const std::map<std::string, std::vector<Hash>>& proofs) {
  std::string out = R"({"creators":)";
  out += dump_json(json(creators));
  out += R"(,"runs":[)";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& r = runs[i];
    if (i) out += ',';
    out += dump_json(json{{"creator", r.creator},
                          {"collection", r.collection},
                          {"first", r.first},
                          {"last", r.last},
                          {"root", r.root},
                          {"signature", r.signature}});
  }
  out += R"(],"deltas":[)";
  for (std::size_t i = 0; i < deltas.size(); ++i) {
    const auto& d = deltas[i];
    if (i) out += ',';
    out += R"({"id":")";
    out += d.id;
    out += "\",";
    if (auto p = proofs.find(d.id); p != proofs.end()) {
      out += R"("proof":[)";
      for (std::size_t k = 0; k < p->second.size(); ++k) {
        if (k) out += ',';
        out += '"' + to_hex(p->second[k]) + '"';
      }
      out += "],";
    }
    out.append(d.body, 1);
  }
  out += "]}";
  return out;
}

Result<Delta> delta_from_record(const DeltaRecord& r) {
  auto j = parse_json_object(r.body, 8);
  if (!j) return std::move(j).error();
  (*j)["id"] = r.id;
  return delta_from_json(*j);
}

DeltaRecord record_of(const Delta& d, std::string canonical_form) {
  return {to_hex(d.id), d.creator, d.collection, d.seq, d.time, d.entity, d.property, std::move(canonical_form), 0};
}

RunRecord record_of(const Run& r) {
  return {r.creator, r.collection, r.first, r.last, to_hex(r.root), crypto::to_hex(r.signature)};
}

Result<Run> run_from_record(const RunRecord& r) {
  return run_from_json(json{{"creator", r.creator},
                            {"collection", r.collection},
                            {"first", r.first},
                            {"last", r.last},
                            {"root", r.root},
                            {"signature", r.signature}});
}

}  // namespace fedmesh::data
