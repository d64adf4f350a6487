/**
 * The calves running under a priv's runtime directory, whichever OCI runtime started them (runc or
 * crun: each keeps its state in RUNTIME_DIR/NAME). The testkit reads them; these names are the
 * generate and apply tests'.
 */
export { listCalfContainers as listContainers, type CalfContainer as ListedContainer } from "@paddock/testkit";
