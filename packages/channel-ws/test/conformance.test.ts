import { meshChannels } from "../../channel-core/test/conformance/mesh.js";
import { runWsConformance } from "./conformance/run-ws-conformance.js";

runWsConformance("mesh", meshChannels);
