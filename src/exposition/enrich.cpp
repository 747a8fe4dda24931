#include "kmb/exposition/enrich.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "kmb/catalog/catalog.h"
#include "kmb/exposition/writer.h"

namespace kmb {
namespace {

using catalog::Entity;

catalog::MetricId Id(std::string_view name) {
  const int id = catalog::FindByName(name);
  return static_cast<catalog::MetricId>(id < 0 ? 0 : id);
}

// Position of the uid label of an entity kind, or -1.
int UidIndex(Entity e) {
  const auto names = catalog::LabelNames(e);
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == "uid") return static_cast<int>(i);
  }
  return -1;
}

// Catalog ids of the rows this file writes and reads, resolved once.
struct Ids {
  catalog::MetricId c_cpu_req = Id("k8s_container_cpu_request_cores");
  catalog::MetricId c_cpu_lim = Id("k8s_container_cpu_limit_cores");
  catalog::MetricId c_mem_req = Id("k8s_container_memory_request_bytes");
  catalog::MetricId c_mem_lim = Id("k8s_container_memory_limit_bytes");
  catalog::MetricId c_eph_req = Id("k8s_container_ephemeral_storage_request_bytes");
  catalog::MetricId c_eph_lim = Id("k8s_container_ephemeral_storage_limit_bytes");
  catalog::MetricId c_cpu_lim_u = Id("k8s_container_cpu_limit_utilization");
  catalog::MetricId c_cpu_req_u = Id("k8s_container_cpu_request_utilization");
  catalog::MetricId c_mem_lim_u = Id("k8s_container_memory_limit_utilization");
  catalog::MetricId c_mem_req_u = Id("k8s_container_memory_request_utilization");
  catalog::MetricId p_cpu_req = Id("k8s_pod_cpu_request_cores");
  catalog::MetricId p_cpu_lim = Id("k8s_pod_cpu_limit_cores");
  catalog::MetricId p_mem_req = Id("k8s_pod_memory_request_bytes");
  catalog::MetricId p_mem_lim = Id("k8s_pod_memory_limit_bytes");
  catalog::MetricId p_cpu_lim_u = Id("k8s_pod_cpu_limit_utilization");
  catalog::MetricId p_cpu_req_u = Id("k8s_pod_cpu_request_utilization");
  catalog::MetricId p_mem_lim_u = Id("k8s_pod_memory_limit_utilization");
  catalog::MetricId p_mem_req_u = Id("k8s_pod_memory_request_utilization");
  catalog::MetricId info = Id("k8s_pod_info");
  catalog::MetricId labels = Id("k8s_pod_labels");
  catalog::MetricId annotations = Id("k8s_pod_annotations");
  // Usage read from the Summary.
  int pod_cpu = catalog::Find(Entity::kPod, "cpu.usageNanoCores");
  int pod_mem = catalog::Find(Entity::kPod, "memory.usageBytes");
  int ctr_cpu = catalog::Find(Entity::kContainer, "cpu.usageNanoCores");
  int ctr_mem = catalog::Find(Entity::kContainer, "memory.usageBytes");
  // Position of the uid label of each entity kind, or -1.
  std::array<int, static_cast<size_t>(Entity::kCount)> uid_index = [] {
    std::array<int, static_cast<size_t>(Entity::kCount)> index;
    for (size_t e = 0; e < index.size(); ++e) index[e] = UidIndex(static_cast<Entity>(e));
    return index;
  }();
};

const Ids& MetricIds() {
  static const Ids ids;
  return ids;
}

// Usage in cores and bytes; nullopt when the Summary did not carry it.
struct Usage {
  std::optional<double> cpu;
  std::optional<double> memory;
};

Usage UsageOf(const EntityStats& e, int cpu_id, int mem_id) {
  Usage u;
  for (const Sample& s : e.samples) {
    if (s.metric == cpu_id) u.cpu = s.Scaled();
    if (s.metric == mem_id) u.memory = s.Scaled();
  }
  return u;
}

bool PodScoped(Entity e) {
  switch (e) {
    case Entity::kPod:
    case Entity::kPodInterface:
    case Entity::kVolume:
    case Entity::kContainer:
    case Entity::kAccelerator:
    case Entity::kApiPod:
    case Entity::kApiContainer:
      return true;
    default:
      return false;
  }
}

void Put(EntityStats& e, catalog::MetricId id, const std::optional<double>& v) {
  if (v) e.samples.push_back(Sample::Double(id, *v));
}

// usage / amount, when both are known and the amount is positive.
void PutRatio(EntityStats& e, catalog::MetricId id, const std::optional<double>& usage,
              const std::optional<double>& amount) {
  if (usage && amount && *amount > 0) e.samples.push_back(Sample::Double(id, *usage / *amount));
}

std::string SnakeCase(std::string_view s) {
  // KSM: invalid characters to '_', then "([a-z0-9])([A-Z])" -> "${1}_${2}", then lower case.
  std::string out;
  out.reserve(s.size() + 4);
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const bool valid = std::isalnum(c) || c == '_';
    if (!valid) {
      out.push_back('_');
      continue;
    }
    if (std::isupper(c) && i > 0) {
      const unsigned char p = static_cast<unsigned char>(s[i - 1]);
      if (std::islower(p) || std::isdigit(p)) out.push_back('_');
    }
    out.push_back(static_cast<char>(std::tolower(c)));
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> PrometheusLabels(
    std::string_view prefix, const std::vector<std::pair<std::string, std::string>>& map) {
  std::vector<const std::pair<std::string, std::string>*> sorted;
  for (const auto& kv : map) sorted.push_back(&kv);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
  std::vector<std::pair<std::string, std::string>> out;
  struct Conflict {
    int count;
    size_t initial;
  };
  std::map<std::string, Conflict> seen;
  for (const auto* kv : sorted) {
    std::string name = std::string(prefix) + "_" + SnakeCase(kv->first);
    auto it = seen.find(name);
    if (it == seen.end()) {
      seen.emplace(name, Conflict{1, out.size()});
    } else {
      if (it->second.count == 1) out[it->second.initial].first += "_conflict1";
      name += "_conflict" + std::to_string(++it->second.count);
    }
    out.emplace_back(std::move(name), kv->second);
  }
  return out;
}

void AppendExtraLabels(std::string& out, const ExtraLabels& extra) {
  for (const auto& [name, value] : extra) {
    if (value.empty()) continue;  // an empty label is an absent one
    if (out.size() > 1) out.push_back(',');
    out.append(name);
    out += "=\"";
    AppendEscapedLabelValue(out, value);
    out.push_back('"');
  }
}

void EnrichSnapshot(const PodMap& pods, const EnrichOptions& options, Snapshot* snap) {
  const Ids& ids = MetricIds();
  // The last pod found: a Summary lists each pod's entities together (pod, containers,
  // interfaces, volumes), so most lookups are a compare of two names instead of a hash probe.
  const Pod* last = nullptr;
  auto find_pod = [&](const EntityStats& e) -> const Pod* {
    if (e.labels.size() < 2) return nullptr;
    if (last == nullptr || e.labels[1] != last->name || e.labels[0] != last->namespace_) {
      auto it = pods.find(KeyParts{e.labels[0], e.labels[1]});  // namespace, name: no key built
      if (it == pods.end()) return nullptr;
      last = it->get();
    }
    const int uid = ids.uid_index[static_cast<size_t>(e.entity)];
    if (uid >= 0 && static_cast<size_t>(uid) < e.labels.size() && !e.labels[uid].empty() &&
        !last->uid.empty() && e.labels[uid] != last->uid && e.labels[uid] != last->mirror_uid) {
      return nullptr;  // same name, another pod: the one the Summary saw is gone
    }
    return last;
  };

  // Summary usage by pod and container, for the ratios. Keyed by the Pod the join found (one per
  // namespace/name); a pod's containers are few, so they are searched in a small vector.
  struct PodUsage {
    Usage pod;
    std::vector<std::pair<const PodContainer*, Usage>> containers;  // spec container, usage
  };
  std::unordered_map<const Pod*, PodUsage> usage_of;
  usage_of.reserve(pods.size());
  std::unordered_set<std::string_view> nodes;  // views of snap->nodes[].node (not resized here)
  nodes.reserve(snap->nodes.size());
  for (NodeResult& n : snap->nodes) {
    nodes.insert(n.node);
    std::erase_if(n.summary.entities, [&](EntityStats& e) {
      if (!PodScoped(e.entity)) return false;
      const Pod* pod = find_pod(e);
      if (pod == nullptr) return true;
      if (e.entity == Entity::kPod) {
        usage_of[pod].pod = UsageOf(e, ids.pod_cpu, ids.pod_mem);
      } else if ((e.entity == Entity::kContainer || e.entity == Entity::kAccelerator) &&
                 e.labels.size() > 2) {
        // The spec container of that name (the first, as names are unique in a pod); a
        // container the spec does not list gets neither an image nor ratios.
        const PodContainer* spec = nullptr;
        for (const PodContainer& c : pod->containers) {
          if (c.name == e.labels[2]) {
            spec = &c;
            break;
          }
        }
        if (spec == nullptr) return false;
        if (!spec->image.empty()) e.extra_labels.emplace_back("image", spec->image);
        if (e.entity == Entity::kContainer) {
          auto& cs = usage_of[pod].containers;
          cs.reserve(pod->containers.size());
          auto it =
              std::find_if(cs.begin(), cs.end(), [&](const auto& c) { return c.first == spec; });
          const Usage u = UsageOf(e, ids.ctr_cpu, ids.ctr_mem);
          if (it == cs.end()) {
            cs.emplace_back(spec, u);
          } else {
            it->second = u;  // the last of duplicate entries wins
          }
        }
      }
      return false;
    });
  }
  std::erase_if(snap->metrics_api_entities, [&](const EntityStats& e) {
    return PodScoped(e.entity) && find_pod(e) == nullptr;
  });

  std::vector<const Pod*> mine;
  size_t entities = 0;
  for (const auto& pod : pods) {
    if (pod->node.empty() ? options.include_unscheduled : nodes.count(pod->node) > 0) {
      mine.push_back(pod.get());
      entities += pod->containers.size() + 4;
    }
  }
  std::sort(mine.begin(), mine.end(), [](const Pod* a, const Pod* b) {
    return a->namespace_ != b->namespace_ ? a->namespace_ < b->namespace_ : a->name < b->name;
  });

  // The entities are written over slots of `out`. With spares (the released snapshot's pod-spec
  // entities, last poll's output in the same order) the spares' own vector becomes `out`: a
  // slot mostly held the same pod's entity of the same kind, with as many labels as long, so
  // neither the vector nor the label strings are allocated again.
  std::vector<EntityStats>& out = snap->pod_entities;
  size_t filled = out.size();
  if (options.spare != nullptr && out.empty()) out.swap(*options.spare);
  out.reserve(filled + entities);
  // The next slot, with a pod-scoped entity's fixed labels and room for its samples; keep() adds
  // it to the output, else the next entity overwrites it.
  auto entity = [&out, &filled](Entity kind, std::initializer_list<std::string_view> labels,
                                size_t samples) -> EntityStats& {
    if (filled == out.size()) out.emplace_back();
    EntityStats& e = out[filled];
    e.entity = kind;
    e.nested = false;
    e.labels = labels;
    e.samples.clear();
    e.samples.reserve(samples);
    e.extra_labels.clear();
    return e;
  };
  auto keep = [&filled] { ++filled; };
  for (const Pod* pod : mine) {
    const auto pu = usage_of.find(pod);
    const PodUsage* usage = pu == usage_of.end() ? nullptr : &pu->second;

    const Usage pod_usage = usage ? usage->pod : Usage{};
    EntityStats& p = entity(Entity::kPod, {pod->namespace_, pod->name, pod->node, pod->uid}, 10);
    Put(p, ids.p_cpu_req, pod->requests.cpu);
    Put(p, ids.p_cpu_lim, pod->limits.cpu);
    Put(p, ids.p_mem_req, pod->requests.memory);
    Put(p, ids.p_mem_lim, pod->limits.memory);
    PutRatio(p, ids.p_cpu_lim_u, pod_usage.cpu, pod->limits.cpu);
    PutRatio(p, ids.p_mem_lim_u, pod_usage.memory, pod->limits.memory);
    if (pod->cpu_request_complete) PutRatio(p, ids.p_cpu_req_u, pod_usage.cpu, pod->requests.cpu);
    if (pod->memory_request_complete) {
      PutRatio(p, ids.p_mem_req_u, pod_usage.memory, pod->requests.memory);
    }
    // k8s_pod_labels / k8s_pod_annotations of a pod with no allowlisted key carry only the
    // pod's identity labels, this entity's own: their samples join it instead of making two
    // entities of their own (60,000 fewer at 1,000 nodes, each with its label block). Those
    // with extra labels get an entity of their own after k8s_pod_info's.
    const std::tuple<catalog::MetricId, const char*, decltype(&pod->labels)> label_maps[] = {
        {ids.labels, "label", &pod->labels}, {ids.annotations, "annotation", &pod->annotations}};
    for (const auto& [id, prefix, map] : label_maps) {
      if (map->empty()) p.samples.push_back(Sample::Uint(id, 1));
    }
    if (!p.samples.empty()) keep();

    for (const PodContainer& c : pod->containers) {
      EntityStats& e =
          entity(Entity::kContainer, {pod->namespace_, pod->name, c.name, pod->node, pod->uid}, 10);
      Put(e, ids.c_cpu_req, c.requests.cpu);
      Put(e, ids.c_cpu_lim, c.limits.cpu);
      Put(e, ids.c_mem_req, c.requests.memory);
      Put(e, ids.c_mem_lim, c.limits.memory);
      Put(e, ids.c_eph_req, c.requests.ephemeral_storage);
      Put(e, ids.c_eph_lim, c.limits.ephemeral_storage);
      if (usage) {
        for (const auto& [spec, u] : usage->containers) {
          if (spec->name != c.name) continue;
          PutRatio(e, ids.c_cpu_lim_u, u.cpu, c.limits.cpu);
          PutRatio(e, ids.c_cpu_req_u, u.cpu, c.requests.cpu);
          PutRatio(e, ids.c_mem_lim_u, u.memory, c.limits.memory);
          PutRatio(e, ids.c_mem_req_u, u.memory, c.requests.memory);
          break;
        }
      }
      if (!e.samples.empty()) keep();
    }

    EntityStats& info = entity(Entity::kPodInfo,
                              {pod->namespace_, pod->name, pod->node, pod->uid, pod->owner_kind,
                               pod->owner_name, pod->qos_class, pod->phase},
                              1);
    info.samples.push_back(Sample::Uint(ids.info, 1));
    keep();

    for (const auto& [id, prefix, map] : label_maps) {
      if (map->empty()) continue;  // on the pod entity
      EntityStats& l = entity(Entity::kPod, {pod->namespace_, pod->name, pod->node, pod->uid}, 1);
      l.extra_labels = PrometheusLabels(prefix, *map);
      l.samples.push_back(Sample::Uint(id, 1));
      keep();
    }
  }
  out.resize(filled);  // slots left over: spares beyond this poll's entities
}

}  // namespace kmb
