"""What every demo shares: the model base and strict loading (modeling), the pipeline base and input checks
(pipelines), and the stand-alone module file saved folders carry for diffusers (remote_code)."""
