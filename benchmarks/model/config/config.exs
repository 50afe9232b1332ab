# Build-time configuration (like examples/demo/config/config.py).
import Config

config :demo, greeting: "Hello", port: 4000, host: {127, 0, 0, 1}
