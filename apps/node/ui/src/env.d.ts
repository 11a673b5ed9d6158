// Vite's client types: `import './style.css'` and `import.meta.env`.
/// <reference types="vite/client" />
