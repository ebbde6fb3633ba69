"""The example prompts the tab and the training sample grids show (written by us, not captions from the data),
and the longest prompt the pipeline takes."""

EXAMPLE_PROMPTS = [  # ours, not captions from the dataset
    "a small yellow bird with black wings and a short pointed beak",
    "a bright red bird with a black face and a thick orange beak",
    "this bird is blue all over with a white belly",
    "a brown bird with a speckled white breast and a long tail",
    "a white bird with grey wings and a long yellow bill",
    "a black bird with a red and yellow patch on its wing",
    "a tiny green bird with a long thin beak",
    "a grey bird with a white belly and a black crown",
]
MAX_PROMPT_CHARS = 4000
