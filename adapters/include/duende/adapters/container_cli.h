// The `docker run` / `podman run` command line and the compose service of a DaemonConfig,
// for users with a container engine (no engine runs here: tested by golden files and by
// parsing the command line back).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "duende/adapters/render.h"
#include "duende/framework/config.h"
#include "duende/framework/result.h"

namespace duende::adapters {

enum class Engine { kDocker, kPodman };

/// argv of `docker run ...` / `podman run ...`. Errors: as CheckRenderable().
framework::Result<std::vector<std::string>> ContainerRunArgv(
    Engine engine, const framework::DaemonConfig& config,
    const ContainerRenderOptions& options = {});

/// The same as a shell command line, one option per line ("  --name kvd \").
framework::Result<std::string> RenderContainerRun(Engine engine,
                                                  const framework::DaemonConfig& config,
                                                  const ContainerRenderOptions& options = {});

/// What the engine's run options express.
Translation TranslateForContainer(Engine engine, const framework::DaemonConfig& config);

/// Reads a command line written by RenderContainerRun() back. Errors: invalid_argument on an
/// option it does not know or a malformed value.
framework::Result<framework::DaemonConfig> ParseContainerRun(
    std::string_view text, const ContainerRenderOptions& options = {});

/// A compose file (`services: NAME: ...`) with the same settings as the docker command line;
/// `$` is doubled (compose interpolates variables). Errors: as CheckRenderable().
framework::Result<std::string> RenderComposeService(const framework::DaemonConfig& config,
                                                    const ContainerRenderOptions& options = {});

}  // namespace duende::adapters
