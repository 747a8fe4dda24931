#include "kmb/sources/metrics_api.h"

#include "json_walk.h"

namespace kmb {
namespace {

using catalog::Entity;
using walk::ChildKey;
using walk::LabelKey;

constexpr ChildKey kChildren[] = {
    {Entity::kApiPod, "containers", Entity::kApiContainer},
};

// Values are strings: Go durations for rows in seconds, quantities otherwise.
walk::StringValue MetricsApiString(const catalog::MetricDef& row) {
  return row.unit == "seconds" ? walk::StringValue::kDuration : walk::StringValue::kQuantity;
}

constexpr LabelKey kLabels[] = {
    {Entity::kApiNode, "metadata.name", "node"},
    {Entity::kApiPod, "metadata.name", "pod"},
    {Entity::kApiPod, "metadata.namespace", "namespace"},
    {Entity::kApiContainer, "name", "container"},
};

}  // namespace

namespace walk {
// NodeMetrics / PodMetrics: the document is one object, or a *List with "items".
SchemaSpec MetricsApiSpec(Entity document_entity) {
  return SchemaSpec{
      .what = document_entity == Entity::kApiNode ? "metrics-api nodes" : "metrics-api pods",
      .source = catalog::Source::kMetricsApi,
      .time_key = "timestamp",
      .children = kChildren,
      .labels = kLabels,
      .document_entity = document_entity,
      .list_key = "items",
      .string_value = MetricsApiString,
  };
}

const Schema& NodeMetricsSchema() {
  static const Schema schema(MetricsApiSpec(Entity::kApiNode));
  return schema;
}

const Schema& PodMetricsSchema() {
  static const Schema schema(MetricsApiSpec(Entity::kApiPod));
  return schema;
}
}  // namespace walk

Status DecodeNodeMetrics(std::string_view body, std::vector<EntityStats>* out) {
  return DecodeNodeMetrics(body, body.size(), out->size(), out);
}

Status DecodePodMetrics(std::string_view body, std::vector<EntityStats>* out) {
  return DecodePodMetrics(body, body.size(), out->size(), out);
}

namespace {

// The poller decodes the next poll over these entities again (entity.h).
Status Trimmed(Status st, std::vector<EntityStats>* out, size_t base) {
  TrimSlack(out, base);
  return st;
}

}  // namespace

Status DecodeNodeMetrics(std::string_view body, size_t capacity, size_t base,
                         std::vector<EntityStats>* out) {
  return Trimmed(walk::NodeMetricsSchema().Walk(body, capacity, out, base), out, base);
}

Status DecodePodMetrics(std::string_view body, size_t capacity, size_t base,
                        std::vector<EntityStats>* out) {
  return Trimmed(walk::PodMetricsSchema().Walk(body, capacity, out, base), out, base);
}

MetricsApiStream::MetricsApiStream(List list, std::vector<EntityStats>* out, size_t base)
    : stream_(std::make_unique<walk::ListStream>(
          list == List::kPods ? walk::PodMetricsSchema() : walk::NodeMetricsSchema(), out, base)),
      out_(out),
      base_(base) {}
MetricsApiStream::~MetricsApiStream() = default;
void MetricsApiStream::Start() { stream_->Start(); }
void MetricsApiStream::Feed(std::string_view bytes) { stream_->Feed(bytes); }
std::optional<Status> MetricsApiStream::Finish() {
  std::optional<Status> st = stream_->Finish();
  if (st) return Trimmed(*st, out_, base_);
  return st;
}
size_t MetricsApiStream::peak_held_bytes() const { return stream_->peak_held_bytes(); }

}  // namespace kmb
