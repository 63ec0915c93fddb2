import { meshChannels } from "../../channel-core/test/conformance/mesh.js";
import { runSseConformance } from "./conformance/run-sse-conformance.js";

runSseConformance("mesh", meshChannels);
