// Ends the engine with one line naming the model file and exit status 75 when the file
// changed on disk while in use (model_file_guard.cpp; MODEL_FILE_CHANGED_EXIT_CODE in
// engine/native-addon.ts).
#pragma once
#include "model/model.h"

namespace st::addon {

// Called before each evaluation: returns when the model's file is as it was loaded.
void exit_if_model_file_changed(const Model& model);

}  // namespace st::addon
