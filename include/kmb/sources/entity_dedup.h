#pragma once
// Duplicate entities in one payload (a kubelet listing a pod twice, seen in the fault matrix):
// the exposition must not repeat a series, so only the first of entities with the same kind and
// labels is kept.

#include <cstddef>
#include <vector>

#include "kmb/sources/entity.h"

namespace kmb {

// Removes every entity whose (kind, labels) equals an earlier one's, keeping order. Returns how
// many were removed. Allocates only a vector of hashes.
size_t DropDuplicateEntities(std::vector<EntityStats>* entities);

}  // namespace kmb
