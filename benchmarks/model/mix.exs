# The model: the example service as an Elixir release, built with `mix release`.
# No dependencies (the benchmark builds offline, without Hex). MODEL_TAR=1 adds
# the tar step, which writes _build/prod/demo-0.1.0.tar.gz.
defmodule Demo.MixProject do
  use Mix.Project

  def project do
    [
      app: :demo,
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      deps: [],
      releases: [
        demo: [
          include_erts: true,
          include_executables_for: [:unix],
          steps: if(System.get_env("MODEL_TAR") == "1", do: [:assemble, :tar], else: [:assemble])
        ]
      ]
    ]
  end

  def application do
    [extra_applications: [:logger, :inets], mod: {Demo.Application, []}]
  end
end
