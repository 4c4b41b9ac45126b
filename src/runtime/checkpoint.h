// Checkpoints of continuous pipelines: one file per pipeline holding the source
// offset covered by the last sink commit.
#pragma once

#include <string>

#include "flowsql/status.h"

namespace flowsql {

/// The checkpoint file of `pipeline_id`: state_dir/<pipeline_id>.offset.
std::string CheckpointPath(const std::string& state_dir, const std::string& pipeline_id);

/// Invalid unless `pipeline_id` is a non-empty file name (no '/', not "." or "..").
Status ValidatePipelineId(const std::string& pipeline_id);

/// Replaces the saved offset atomically: writes a temporary file in `state_dir`,
/// fsyncs it, renames it over the checkpoint and fsyncs the directory, so a crash
/// leaves either the old or the new offset. Creates `state_dir` if missing.
/// Errors are IOError naming the path.
Status SaveOffset(const std::string& state_dir, const std::string& pipeline_id,
                  const std::string& offset);

}  // namespace flowsql
