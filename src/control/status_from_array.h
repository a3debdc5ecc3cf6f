// Fills an ArrayStatus from a running raid::Array through its public getters. Call it on the
// array's reactor thread only.
#pragma once

#include "control/array_status.h"
#include "raid/array.h"

namespace meshraid::control {

ArrayStatus StatusFromArray(const raid::Array& array);

// The part of a superblock name "homehost:name" after the colon (the whole name without one).
std::string ShortArrayName(const std::string& set_name);

}  // namespace meshraid::control
