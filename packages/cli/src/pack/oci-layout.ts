/**
 * The artefact as an OCI image layout (image-spec 1.0: oci-layout, index.json, blobs/sha256/):
 * one layer, the very .tar.gz `paddock pack` wrote, and a config naming /usr/sbin/paddock as the
 * entrypoint. The layer holds Paddock's tree only, not a distribution: it goes on top of a Debian
 * 12 base (libc, libstdc++, zlib, libseccomp), as an image builder's layer or a LinuxKit package.
 */
import { createHash } from "node:crypto";
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";

/** The layer and the names it is published under. */
export interface OciLayoutInput {
  /** The .tar.gz, copied in as the layer blob. */
  readonly layer: string;
  /** `sha256:HEX` of the .tar.gz. */
  readonly layerDigest: string;
  /** `sha256:HEX` of the uncompressed tar (the config's diff id). */
  readonly diffId: string;
  readonly layerBytes: number;
  readonly version: string;
}

const MEDIA = {
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar+gzip",
} as const;

/** Writes the layout into `dir` (created); returns the manifest's digest. */
export async function writeOciLayout(dir: string, input: OciLayoutInput): Promise<string> {
  const blobs = path.join(dir, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  const blob = async (bytes: string): Promise<{ digest: string; size: number }> => {
    const hex = createHash("sha256").update(bytes).digest("hex");
    await writeFile(path.join(blobs, hex), bytes);
    return { digest: `sha256:${hex}`, size: Buffer.byteLength(bytes) };
  };
  await copyFile(input.layer, path.join(blobs, input.layerDigest.slice("sha256:".length)));
  const config = await blob(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Entrypoint: ["/usr/sbin/paddock"], Labels: { "org.opencontainers.image.version": input.version } },
      rootfs: { type: "layers", diff_ids: [input.diffId] },
    }),
  );
  const manifest = await blob(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      config: { mediaType: MEDIA.config, ...config },
      layers: [{ mediaType: MEDIA.layer, digest: input.layerDigest, size: input.layerBytes }],
    }),
  );
  await writeFile(path.join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    path.join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: MEDIA.manifest, ...manifest, annotations: { "org.opencontainers.image.ref.name": input.version } }],
    }),
  );
  return manifest.digest;
}
