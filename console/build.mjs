// Copies the browser build of the Socket.IO client, pinned in package-lock.json,
// into the Python package, where the server serves it under /app/vendor/ and
// PyInstaller bundles it into the executable.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "..", "hotelbot", "console", "vendor");
const client = join(here, "node_modules", "socket.io-client");

mkdirSync(target, { recursive: true });
copyFileSync(join(client, "dist", "socket.io.esm.min.js"), join(target, "socket.io.esm.min.js"));
copyFileSync(join(client, "LICENSE"), join(target, "socket.io-client.LICENSE"));
console.log(`Socket.IO client copied to ${target}`);
